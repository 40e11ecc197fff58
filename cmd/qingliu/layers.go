package main

import (
	"context"
	"errors"
	"sync"
)

// component is a long-running part of a process: it returns when ctx is done
// and its goroutines have exited.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// runLayers starts layers in order (outputs first, inputs last) and stops
// them in reverse (inputs first), each layer only after the later ones have
// returned, so nothing an input accepted is left behind in a stopped output.
// The first error from any component stops everything and is returned.
func runLayers(ctx context.Context, layers ...[]component) error {
	type layerRun struct {
		cancel context.CancelFunc
		wg     sync.WaitGroup
	}
	var (
		failOnce sync.Once
		firstErr error
	)
	failed := make(chan struct{})
	runs := make([]*layerRun, len(layers))
	for i, layer := range layers {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		lr := &layerRun{cancel: cancel}
		runs[i] = lr
		for _, c := range layer {
			lr.wg.Add(1)
			go func() {
				defer lr.wg.Done()
				if err := c.run(lctx); err != nil && !errors.Is(err, context.Canceled) {
					failOnce.Do(func() {
						firstErr = err
						close(failed)
					})
				}
			}()
		}
	}
	select {
	case <-ctx.Done():
	case <-failed:
	}
	for i := len(runs) - 1; i >= 0; i-- {
		runs[i].cancel()
		runs[i].wg.Wait()
	}
	return firstErr
}
