package projections

import (
	"context"
	"path/filepath"
)

// Cache is the one home of the projections cache of an embedded log: the
// checkpoint (the whole ledger at a position, checkpoint.go) and the
// epoch archive (closed epochs' shares, archive.go), kept in the data
// directory's checkpoints/ folder:
//
//	DATA/checkpoints/projections.ckpt      ledger state
//	DATA/checkpoints/projections-ids.ckpt  the same with event ids (import)
//	DATA/checkpoints/epochs.json           epoch archive
//
// Both are caches, not the log: a missing, damaged or stale file only
// costs a fold, so failing to save one is a note, never an error.
type Cache struct {
	// Dir is the folder of the files (DATA/checkpoints).
	Dir string
}

// CacheOf is the cache of the embedded log in data directory dir.
func CacheOf(dataDir string) Cache { return Cache{Dir: filepath.Join(dataDir, "checkpoints")} }

// CheckpointEvery is how far a fold must get past the checkpoint it
// resumed from (and past position 0) before a new one is saved.
const CheckpointEvery = 50_000

// CheckpointPath is the checkpoint of ledgers of config trackIDs (a
// checkpoint serves only a ledger of its own Config.TrackIDs).
func (c Cache) CheckpointPath(trackIDs bool) string {
	if trackIDs {
		return filepath.Join(c.Dir, "projections-ids.ckpt")
	}
	return filepath.Join(c.Dir, "projections.ckpt")
}

// ArchivePath is the epoch archive.
func (c Cache) ArchivePath() string { return filepath.Join(c.Dir, "epochs.json") }

// Load folds r: from the checkpoint when it belongs to this log (Resume),
// or from position 1 when fromScratch. It then saves a checkpoint once the
// fold passed CheckpointEvery events beyond the one it resumed from,
// unless the saved one is already at the ledger's position. saveErr is a
// failure to save (the ledger is good); err a failure to fold.
func (c Cache) Load(ctx context.Context, r Reader, cfg Config, fromScratch bool, progress func(pos, head uint64)) (l *Ledger, saveErr, err error) {
	path := c.CheckpointPath(cfg.TrackIDs)
	var start uint64
	if fromScratch {
		l, err = Build(ctx, r, cfg, progress)
	} else {
		l, start, err = Resume(ctx, r, path, cfg, progress)
	}
	if err != nil {
		return nil, nil, err
	}
	if l.Position >= CheckpointEvery && l.Position-start >= CheckpointEvery {
		if p, ok := CheckpointPosition(path); !ok || p != l.Position {
			// Should the file at this position be another log's, Resume
			// sees that and rebuilds.
			saveErr = l.WriteCheckpoint(path)
		}
	}
	return l, saveErr, nil
}

// KeepArchive saves the epoch archive of l when the saved one is missing
// or stale: it lacks closed epochs, differs in channels, or (without
// channels) has no position or lags far behind the log, being checked
// against the log after its position at every use. Closed epochs never
// change, so a current archive is left alone. It returns a failure to
// make or save the archive (a cache: the caller notes it or not).
func (c Cache) KeepArchive(ctx context.Context, l *Ledger, r Reader) error {
	if l.ClosedEpochs() == 0 {
		return nil
	}
	if a, err := ReadArchive(c.ArchivePath()); err == nil && uint64(len(a.Epochs)) >= l.ClosedEpochs() && a.UsesChannels == l.UsesChannels() && !a.stale(l) {
		return nil
	}
	a, err := l.Archive(ctx, r)
	if err != nil {
		return err
	}
	return a.Write(c.ArchivePath())
}

// stale: an archive without channels is checked against the log after its
// position at every use, so it is made again once it has no position (an
// older file) or lags far behind the log.
func (a *Archive) stale(l *Ledger) bool {
	return !a.UsesChannels && (a.Position == 0 || l.Position-a.Position > 1<<16)
}

// Archive reads the epoch archive.
func (c Cache) Archive() (*Archive, error) { return ReadArchive(c.ArchivePath()) }
