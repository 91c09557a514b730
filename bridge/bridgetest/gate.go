package bridgetest

import "context"

// gate holds a fake's calls at one point until the test releases them: the
// moment to take a crash image, or for staff to act while the platform is
// being told. Its owner guards it with its own mutex; a call copies it
// under that mutex and waits on the copy after unlocking.
type gate struct {
	release chan struct{} // closed to let held calls go on; nil: not holding
	held    chan struct{} // receives once per held call
}

// hold makes later calls wait; held receives once per call that waits
// (room for n before a call blocks on telling).
func (g *gate) hold(n int) <-chan struct{} {
	g.release, g.held = make(chan struct{}), make(chan struct{}, n)
	return g.held
}

// open lets held calls go on, and later ones pass.
func (g *gate) open() {
	if g.release != nil {
		close(g.release)
		g.release = nil
	}
}

// wait tells held and blocks until the gate opens or ctx ends (then
// ctx's error); a gate not holding passes at once. Call it on a copy
// taken under the owner's mutex, without holding it.
func (g gate) wait(ctx context.Context) error {
	if g.release == nil {
		return nil
	}
	g.held <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
