package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/auth"
)

// usersBackend is where sluice users reads and writes SCRAM credentials:
// a running agent (AlterUserScramCredentials through kadm), or the
// metadata store itself, before any agent runs.
type usersBackend interface {
	upsert(ctx context.Context, user string, m auth.ScramMechanism, password string, iterations int) error
	remove(ctx context.Context, user string, m auth.ScramMechanism) error
	list(ctx context.Context, users []string) ([]auth.ScramCredential, error)
	close()
}

func newUsersCmd() *cobra.Command {
	var (
		cf          clientFlags
		dataDir     string
		metadataURL string
	)
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Create, list and delete SCRAM users (SASL PLAIN and SCRAM-SHA-256/512 logins)",
		Long: `Manage the SCRAM credentials SASL listeners check. By default through a
running agent (--brokers, with --sasl-… and --tls-… for a secured listener);
with --data-dir or --metadata-url straight in the metadata store, which
creates the first users before any agent runs (as kafka-storage format
--add-scram does for Kafka). Passwords are salted; only the salted keys are
stored.`,
		Example: `  sluice users create admin --password 's3cret' --data-dir ./sluice-data
  sluice users create app --mechanism SCRAM-SHA-256 --password 'p' --brokers 10.0.0.5:9094 \
    --tls-ca ca.pem --sasl-mechanism SCRAM-SHA-512 --sasl-user admin --sasl-password 's3cret'
  sluice users list --metadata-url postgres://sluice@db/sluice`,
	}
	cf.register(cmd)
	pf := cmd.PersistentFlags()
	pf.StringVar(&dataDir, "data-dir", "", "write straight into this sluice dev data directory's metadata store, not through an agent")
	pf.StringVar(&metadataURL, "metadata-url", "", "write straight into this metadata store (sqlite:// or postgres://), not through an agent")
	backend := func(ctx context.Context) (usersBackend, error) {
		if dataDir != "" && metadataURL != "" {
			return nil, errors.New("give --data-dir or --metadata-url, not both")
		}
		if dataDir != "" {
			var err error
			if _, metadataURL, err = agent.DataDirURLs(dataDir); err != nil {
				return nil, err
			}
		}
		if metadataURL != "" {
			s, err := agent.OpenMetadata(ctx, metadataURL)
			if err != nil {
				return nil, err
			}
			ss, ok := s.(auth.ScramStore)
			if !ok {
				s.Close()
				return nil, errors.New("this metadata store keeps no SCRAM credentials")
			}
			return storeUsers{ss, func() { s.Close() }}, nil
		}
		cl, err := cf.client()
		if err != nil {
			return nil, err
		}
		return kadmUsers{kadm.NewClient(cl)}, nil
	}

	var (
		mechs      []string
		password   string
		iterations int
	)
	parseMechs := func(all bool) ([]auth.ScramMechanism, error) {
		if len(mechs) == 0 && all {
			return []auth.ScramMechanism{auth.ScramSHA256, auth.ScramSHA512}, nil
		}
		var out []auth.ScramMechanism
		for _, n := range mechs {
			m, err := auth.ParseScramMechanism(n)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
	create := &cobra.Command{
		Use:   "create USER",
		Short: "Create a user, or change its password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if password == "" {
				return errors.New("--password is required (or SLUICE_PASSWORD)")
			}
			if iterations < auth.MinScramIterations || iterations > auth.MaxScramIterations {
				return fmt.Errorf("--iterations must be between %d and %d", auth.MinScramIterations, auth.MaxScramIterations)
			}
			ms, err := parseMechs(true)
			if err != nil {
				return err
			}
			b, err := backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			for _, m := range ms {
				if err := b.upsert(cmd.Context(), args[0], m, password, iterations); err != nil {
					return fmt.Errorf("user %s, %s: %w", args[0], m, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credential set (%d iterations)\n", args[0], m, iterations)
			}
			return nil
		},
	}
	create.Flags().StringArrayVar(&mechs, "mechanism", nil, "SCRAM-SHA-256 or SCRAM-SHA-512, repeatable (default both; PLAIN logins use either)")
	create.Flags().StringVar(&password, "password", "", "the user's password (prefer SLUICE_PASSWORD)")
	create.Flags().IntVar(&iterations, "iterations", auth.DefaultScramIterations, "PBKDF2 iterations, 4096-16384")

	list := &cobra.Command{
		Use:   "list [USER...]",
		Short: "List users and their SCRAM mechanisms",
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			var users []string
			if len(args) > 0 {
				users = args
			}
			creds, err := b.list(cmd.Context(), users)
			if err != nil {
				return err
			}
			return printUsers(cmd.OutOrStdout(), creds)
		},
	}

	del := &cobra.Command{
		Use:   "delete USER",
		Short: "Delete a user's credentials (all mechanisms unless --mechanism)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := backend(cmd.Context())
			if err != nil {
				return err
			}
			defer b.close()
			ms, err := parseMechs(false)
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				creds, err := b.list(cmd.Context(), []string{args[0]})
				if err != nil {
					return err
				}
				for _, c := range creds {
					ms = append(ms, c.Mechanism)
				}
				if len(ms) == 0 {
					return fmt.Errorf("user %s has no credentials", args[0])
				}
			}
			for _, m := range ms {
				if err := b.remove(cmd.Context(), args[0], m); err != nil {
					return fmt.Errorf("user %s, %s: %w", args[0], m, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credential deleted\n", args[0], m)
			}
			return nil
		},
	}
	del.Flags().StringArrayVar(&mechs, "mechanism", nil, "delete only this mechanism's credential (repeatable)")
	cmd.AddCommand(create, list, del)
	return cmd
}

func printUsers(out io.Writer, creds []auth.ScramCredential) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USER\tMECHANISM\tITERATIONS")
	for _, c := range creds {
		fmt.Fprintf(w, "%s\t%s\t%d\n", c.User, c.Mechanism, c.Iterations)
	}
	return w.Flush()
}

// storeUsers writes the metadata store directly.
type storeUsers struct {
	s       auth.ScramStore
	closeFn func()
}

func (u storeUsers) upsert(ctx context.Context, user string, m auth.ScramMechanism, password string, iterations int) error {
	if user == "" {
		return errors.New("the user name must not be empty")
	}
	c, err := auth.NewScramCredential(user, m, password, iterations)
	if err != nil {
		return err
	}
	return u.s.UpsertScramCredential(ctx, c)
}

func (u storeUsers) remove(ctx context.Context, user string, m auth.ScramMechanism) error {
	return u.s.DeleteScramCredential(ctx, user, m)
}

func (u storeUsers) list(ctx context.Context, users []string) ([]auth.ScramCredential, error) {
	return u.s.ScramCredentials(ctx, users)
}

func (u storeUsers) close() { u.closeFn() }

// kadmUsers goes through an agent's Kafka API.
type kadmUsers struct{ adm *kadm.Client }

func kadmMech(m auth.ScramMechanism) kadm.ScramMechanism {
	if m == auth.ScramSHA512 {
		return kadm.ScramSha512
	}
	return kadm.ScramSha256
}

func (u kadmUsers) upsert(ctx context.Context, user string, m auth.ScramMechanism, password string, iterations int) error {
	res, err := u.adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadmMech(m), Iterations: int32(iterations), Password: password}})
	if err != nil {
		return err
	}
	return kafkaError(res[user].Err, res[user].ErrMessage)
}

func (u kadmUsers) remove(ctx context.Context, user string, m auth.ScramMechanism) error {
	res, err := u.adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: user, Mechanism: kadmMech(m)}}, nil)
	if err != nil {
		return err
	}
	return kafkaError(res[user].Err, res[user].ErrMessage)
}

func (u kadmUsers) list(ctx context.Context, users []string) ([]auth.ScramCredential, error) {
	described, err := u.adm.DescribeUserSCRAMs(ctx, users...)
	if err != nil {
		return nil, err
	}
	var out []auth.ScramCredential
	for _, d := range described.Sorted() {
		if d.Err != nil {
			if len(users) > 0 {
				return nil, fmt.Errorf("user %s: %w", d.User, kafkaError(d.Err, d.ErrMessage))
			}
			continue
		}
		for _, ci := range d.CredInfos {
			m := auth.ScramSHA256
			if ci.Mechanism == kadm.ScramSha512 {
				m = auth.ScramSHA512
			}
			out = append(out, auth.ScramCredential{User: d.User, Mechanism: m, Iterations: int(ci.Iterations)})
		}
	}
	auth.SortScramCredentials(out)
	return out, nil
}

func (u kadmUsers) close() { u.adm.Close() }
