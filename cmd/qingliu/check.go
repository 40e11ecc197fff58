package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/internal/config"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards"
)

// checker validates one configuration file named by qingliu.yaml.
type checker struct {
	what  string
	path  func(*config.Config) string
	check func(path string) error
}

// checkers lists every file `qingliu check` validates, in order.
func checkers() []checker {
	return []checker{
		{"station registry", func(c *config.Config) string { return c.Path(c.Files.Stations) },
			func(p string) error { _, err := registry.Load(p); return err }},
		{"standards and severity mappings", func(c *config.Config) string { return c.Path(c.Files.Standards) },
			func(p string) error { _, err := standards.Load(p); return err }},
		{"alert routing, receivers and templates", func(c *config.Config) string { return c.Path(c.Files.Routing) },
			func(p string) error {
				// The registry file next to it; its own problems are reported above.
				reg, err := registry.Load(filepath.Join(filepath.Dir(p), "stations.yaml"))
				if err != nil {
					return nil
				}
				_, err = loadRouting(p, reg)
				return err
			}},
	}
}

func newCheckCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate every configuration file and print each problem with file, path and reason",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := runCheck(cmd.OutOrStdout(), cfgPath)
			if n > 0 {
				return badInputf("%d problem(s) found", n)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", defaultConfig, "main configuration file")
	return cmd
}

// runCheck prints every problem and returns how many there were.
func runCheck(w io.Writer, cfgPath string) int {
	problems := 0
	report := func(err error) {
		var ce *conf.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(w, p.String())
			}
			problems += len(ce.Problems)
			return
		}
		fmt.Fprintln(w, err)
		problems++
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		report(err)
		// Go on with the default file names so the other files are checked too.
		cfg = &config.Config{Files: config.Defaults().Files, Dir: dirOf(cfgPath)}
	} else {
		fmt.Fprintf(w, "ok   %s\n", cfgPath)
	}
	for _, c := range checkers() {
		p := c.path(cfg)
		if err := c.check(p); err != nil {
			report(err)
			continue
		}
		fmt.Fprintf(w, "ok   %s (%s)\n", p, c.what)
	}
	if skipped, err := checkRules(cfg); err != nil {
		report(err)
	} else if !skipped {
		fmt.Fprintf(w, "ok   %s (rules)\n", cfg.Path(cfg.Files.Rules))
	}
	if cfg.Files.DevCredentials != "" {
		p := cfg.Path(cfg.Files.DevCredentials)
		if reg, err := registry.Load(cfg.Path(cfg.Files.Stations)); err == nil {
			if _, err := stationPasswords(reg, p); err != nil {
				report(err)
			} else {
				fmt.Fprintf(w, "ok   %s (DEV ONLY station credentials, each matching its station's hash)\n", p)
			}
		}
	}
	return problems
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return "."
}
