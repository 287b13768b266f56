package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/audit"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/state"
)

// NewLogs resolves the logs of cfg (keys, trust material, the shards
// trust.follow_shards adds) as NewApp does, without opening the state
// directory: for commands that read what a running monitor verified
// (`monitor audit-bundle`). The logs do not scan.
func NewLogs(ctx context.Context, cfg *config.Config, logger *slog.Logger) ([]*Log, error) {
	_, _, logs, err := resolveLogs(ctx, cfg, logger, nil)
	return logs, err
}

// resolveLogs loads the trust material of cfg, adds the shards it lists
// when trust.follow_shards is set (the returned configuration has them)
// and builds the logs; scan is nil for logs that do not scan.
func resolveLogs(ctx context.Context, cfg *config.Config, logger *slog.Logger, scan *ScanConfig) (*config.Config, *trustMaterial, []*Log, error) {
	ua := "vigil-monitor/" + Version()
	trust, err := loadTrust(cfg.Trust, cfg.StateDir, ua, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.Trust.FollowShards && trust != nil {
		shards, skipped := trust.shards(cfg.Logs, time.Now())
		for _, sh := range shards {
			logger.InfoContext(ctx, "following a log listed in the trust material", "log", sh.Name, "kind", string(sh.Kind), "url", sh.URL, "origin", sh.Origin)
		}
		for _, why := range skipped {
			logger.WarnContext(ctx, "not following a log of the trust material", "reason", why)
		}
		if len(shards) > 0 {
			c := *cfg
			c.Logs = append(slices.Clone(cfg.Logs), shards...)
			if err := c.Complete(); err != nil {
				return nil, nil, nil, fmt.Errorf("adding shards from the trust material: %w", err)
			}
			cfg = &c
		}
	}
	logs := make([]*Log, 0, len(cfg.Logs))
	for i, lc := range cfg.Logs {
		reload := func() (trustedLogs, error) {
			tm, err := loadTrust(cfg.Trust, cfg.StateDir, ua, logger)
			if err != nil || tm == nil {
				return nil, err
			}
			return tm.logsFor(lc.Kind), nil
		}
		l, err := newLog(lc, trust.logsFor(lc.Kind), reload, ua, scan)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("logs[%d] (%s): %w", i, lc.Name, err)
		}
		logs = append(logs, l)
	}
	return cfg, trust, logs, nil
}

// NewAuditor returns the auditor of Sigstore bundles for cfg's logs, reading
// the state directory and the checkpoint archive without the lock a running
// monitor holds (`monitor audit-bundle --config`).
func NewAuditor(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*audit.Auditor, error) {
	logs, err := NewLogs(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	return audit.New(audit.Config{Logs: auditLogs(logs), StateDir: cfg.StateDir,
		Archive: archive.OpenReader(state.ArchiveDir(cfg.StateDir))})
}

// auditLogs are the logs as package audit takes them.
func auditLogs(logs []*Log) []audit.Log {
	out := make([]audit.Log, len(logs))
	for i, l := range logs {
		out[i] = audit.Log{Name: l.Name, Kind: config.Kind(l.Kind), Source: l.Source, Keys: func() audit.Keys {
			k := l.Keys()
			return audit.Keys{Verifiers: k.Verifiers, Saved: k.Saved, Public: k.Public}
		}}
	}
	return out
}
