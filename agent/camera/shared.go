package camera

import (
	"github.com/camagent/camagent/config"
	"github.com/camagent/camagent/media/record"
	"github.com/camagent/camagent/media/recorder"
	"github.com/camagent/camagent/uplink/spool"
)

// Shared is what every camera of one config shares: the pre-event memory,
// the upload queues' disk budget, the upload rate and the recordings' budget. A change of the
// config's events or uploads sections restarts every camera with new ones.
type Shared struct {
	prebuffer   *record.Budget // nil: no pre-event buffers
	spool       *spool.Budget
	rate        *spool.Limiter // nil: no cap
	minFree     int64
	snapshotMax config.Dimensions
	// The memory cards: where, shared budget (nil: none), kept free.
	recDir     string
	recBudget  *recorder.Budget
	recMinFree int64
}

// NewShared builds the budgets of cfg.
func NewShared(cfg *config.Config) *Shared {
	sh := &Shared{
		spool:       spool.NewBudget(int64(cfg.Uploads.SpoolMax)),
		minFree:     int64(cfg.Uploads.MinFree),
		snapshotMax: cfg.Events.SnapshotMax,
		recDir:      cfg.RecordingDir(),
		recMinFree:  int64(cfg.Recording.MinFree),
	}
	if m := cfg.Recording.MaxSize; m > 0 {
		sh.recBudget = recorder.NewBudget(int64(m))
	}
	if m := cfg.Events.PrebufferMemory; m > 0 {
		sh.prebuffer = record.NewBudget(int64(m))
	}
	if r := cfg.Uploads.MaxRate; r > 0 {
		burst := cfg.Uploads.Burst
		if burst == 0 {
			burst = r // one second's worth
		}
		sh.rate = spool.NewLimiter(int64(r), int64(burst))
	}
	return sh
}
