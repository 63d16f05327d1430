package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicehq/sluice/internal/buildinfo"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), buildinfo.Read())
			return err
		},
	}
}

// logStartup logs the build and the effective value of every flag of cmd
// (given, from the environment, or default), with secrets redacted, so a log
// says exactly what ran.
func logStartup(cmd *cobra.Command) {
	info := buildinfo.Read()
	attrs := []any{"version", info.Version, "commit", info.Commit, "go", info.Go}
	var settings []any
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		settings = append(settings, slog.String(f.Name, redactFlag(f.Name, f.Value.String())))
	})
	attrs = append(attrs, slog.Group("settings", settings...))
	slog.Info("starting sluice "+cmd.Name(), attrs...)
}

// redactFlag hides secrets in a flag's value: the whole value of a flag
// named for a secret, and in URLs the password and query parameters named
// for one (e.g. postgres://user:pass@host/db, s3://b?secret_access_key=…).
func redactFlag(name, value string) string {
	if isSecretName(name) {
		if value == "" {
			return ""
		}
		return "xxxxx"
	}
	if !strings.Contains(value, "://") {
		return value
	}
	u, err := url.Parse(value)
	if err != nil {
		return "xxxxx" // unparsable: it may hold anything
	}
	q := u.Query()
	for k := range q {
		if isSecretName(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

func isSecretName(s string) bool {
	s = strings.ToLower(s)
	for _, w := range []string{"password", "secret", "token", "key", "credential"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
