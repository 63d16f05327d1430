package main

import (
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/cluster"
)

// rolesFlag parses --roles into the agent's roles; unknown role names are
// refused when the flag is parsed.
type rolesFlag struct{ roles *cluster.Roles }

func (f rolesFlag) String() string { return f.roles.String() }

func (f rolesFlag) Set(v string) error {
	r, err := cluster.ParseRoles(v)
	if err != nil {
		return err
	}
	*f.roles = r
	return nil
}

func (rolesFlag) Type() string { return "roles" }

// addRoleFlags registers --roles, --agent-group and --tableflow-config.
func addRoleFlags(f *pflag.FlagSet, cfg *agent.Config) {
	cfg.Roles = cluster.DefaultRoles
	f.Var(rolesFlag{&cfg.Roles}, "roles", "what this agent does, a comma-separated list of proxy (serve Kafka clients, the HTTP API and the zone peer cache), jobs (run retention, compaction, file deletion and the orphan sweep) and tableflow (run the Tableflow service of --tableflow-config)")
	f.StringVar(&cfg.AgentGroup, "agent-group", "", "agent group this agent serves: clients with sluice_group=<name> in their client.id see only that group's agents (empty: the default group)")
	f.StringVar(&cfg.TableflowConfig, "tableflow-config", "", "tableflow.yaml the tableflow role runs (needed with --roles …,tableflow)")
}
