// Command qingliu is the one binary of the Qingliu pipeline: `qingliu up` runs
// every stage in one process on an embedded NATS server, and the other
// sub-commands run one stage, a simulator, a config check or an analyst tool.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qingliu:", err)
	}
	os.Exit(exitCode(err))
}

// tuneGC trades heap for CPU: the pipeline allocates per message, and on a
// 2-core machine the collector's share matters. The soft memory limit keeps
// RSS bounded (the ingest target is under 300 MB). GOGC and GOMEMLIMIT in the
// environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(192 << 20)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "qingliu",
		Short:         "Ecological monitoring ingest and joint early warning for Guangzhou–Qingyuan",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	root.AddCommand(
		newUpCmd(),
		newIngestCmd(),
		newWriterCmd(),
		newGateCmd(),
		newAlertCmd(),
		newCheckCmd(),
		newSimCmd(),
		newAQICmd(),
		newWaterClassCmd(),
		newLevelCmd(),
		newReportCmd(),
		newHJ212Cmd(),
		newRulesCmd(),
		newGenCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "qingliu", version)
				return err
			},
		},
	)
	return root
}
