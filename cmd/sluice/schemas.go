package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/sr"
)

// schemaFlags are the flags every `sluice schemas` command shares.
type schemaFlags struct {
	url, user, password string
}

func (f *schemaFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "registry-url", "http://127.0.0.1:8081", "schema registry URL (any agent's --schema-registry-addr)")
	pf.StringVar(&f.user, "registry-user", "", "HTTP basic auth user")
	pf.StringVar(&f.password, "registry-password", "", "HTTP basic auth password")
}

func (f *schemaFlags) client() (*sr.Client, error) {
	opts := []sr.ClientOpt{sr.URLs(f.url)}
	if f.user != "" {
		opts = append(opts, sr.BasicAuth(f.user, f.password))
	}
	return sr.NewClient(opts...)
}

// parseSchemaVersion accepts a version number or "latest".
func parseSchemaVersion(s string) (int, error) {
	if s == "latest" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("version %q: want a number from 1 or latest", s)
	}
	return v, nil
}

// schemaInput reads a schema from a file, or stdin for "-".
func schemaInput(path, typ string, refs []string) (sr.Schema, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return sr.Schema{}, err
	}
	s := sr.Schema{Schema: string(b)}
	if err := s.Type.UnmarshalText([]byte(strings.ToUpper(typ))); err != nil {
		return sr.Schema{}, fmt.Errorf("--type %q: want avro, protobuf or json", typ)
	}
	for _, r := range refs {
		// name=subject:version
		name, sv, ok := strings.Cut(r, "=")
		subject, ver, ok2 := strings.Cut(sv, ":")
		v, err := strconv.Atoi(ver)
		if !ok || !ok2 || err != nil {
			return sr.Schema{}, fmt.Errorf("--reference %q: want name=subject:version", r)
		}
		s.References = append(s.References, sr.SchemaReference{Name: name, Subject: subject, Version: v})
	}
	return s, nil
}

func newSchemasCmd() *cobra.Command {
	var f schemaFlags
	cmd := &cobra.Command{Use: "schemas", Short: "List, get, register, check and delete schemas in the schema registry"}
	f.register(cmd)

	var deleted bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List subjects with their latest version and schema ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if deleted {
				ctx = sr.WithParams(ctx, sr.ShowDeleted)
			}
			all, err := cl.AllSchemas(sr.WithParams(ctx, sr.LatestOnly))
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SUBJECT\tVERSION\tID\tTYPE")
			for _, s := range all {
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", s.Subject, s.Version, s.ID, s.Type)
			}
			return w.Flush()
		},
	}
	list.Flags().BoolVar(&deleted, "deleted", false, "include soft-deleted subjects")

	get := &cobra.Command{
		Use:   "get SUBJECT [VERSION|latest]",
		Short: "Print one version of a subject as JSON (default: the latest)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := -1
			if len(args) == 2 {
				var err error
				if v, err = parseSchemaVersion(args[1]); err != nil {
					return err
				}
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			s, err := cl.SchemaByVersion(cmd.Context(), args[0], v)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(s)
		},
	}

	var (
		typ       string
		refs      []string
		normalize bool
	)
	registerCmd := &cobra.Command{
		Use:   "register SUBJECT FILE",
		Short: "Register the schema in FILE (- for stdin) under SUBJECT; prints its ID and version",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := schemaInput(args[1], typ, refs)
			if err != nil {
				return err
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if normalize {
				ctx = sr.WithParams(ctx, sr.Normalize)
			}
			ss, err := cl.CreateSchema(ctx, args[0], s)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "registered %s version %d with schema ID %d\n", ss.Subject, ss.Version, ss.ID)
			return nil
		},
	}
	check := &cobra.Command{
		Use:   "check SUBJECT FILE [VERSION|latest]",
		Short: "Check whether the schema in FILE may be registered under SUBJECT (against VERSION, or as the subject's level asks); exits 1 if not",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := schemaInput(args[1], typ, refs)
			if err != nil {
				return err
			}
			v := -2 // every version the compatibility level compares with
			if len(args) == 3 {
				if v, err = parseSchemaVersion(args[2]); err != nil {
					return err
				}
			}
			cl, err := f.client()
			if err != nil {
				return err
			}
			res, err := cl.CheckCompatibility(sr.WithParams(cmd.Context(), sr.Verbose), args[0], v, s)
			if err != nil {
				return err
			}
			if res.Is {
				fmt.Fprintln(cmd.OutOrStdout(), "compatible")
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "incompatible:")
			for _, m := range res.Messages {
				fmt.Fprintln(cmd.OutOrStdout(), "  "+m)
			}
			return fmt.Errorf("schema is not compatible with %s", args[0])
		},
	}
	for _, c := range []*cobra.Command{registerCmd, check} {
		c.Flags().StringVarP(&typ, "type", "t", "avro", "schema type: avro, protobuf or json")
		c.Flags().StringArrayVar(&refs, "reference", nil, "a reference name=subject:version (repeatable)")
	}
	registerCmd.Flags().BoolVar(&normalize, "normalize", false, "register the normalized form (Confluent's normalize=true)")

	var permanent bool
	del := &cobra.Command{
		Use:   "delete SUBJECT [VERSION|latest]",
		Short: "Soft-delete a subject or one version; --permanent then removes it for good",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			how := sr.SoftDelete
			if permanent {
				how = sr.HardDelete
			}
			if len(args) == 1 {
				versions, err := cl.DeleteSubject(cmd.Context(), args[0], how)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s versions %v\n", args[0], versions)
				return nil
			}
			v, err := parseSchemaVersion(args[1])
			if err != nil {
				return err
			}
			if err := cl.DeleteSchema(cmd.Context(), args[0], v, how); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s version %s\n", args[0], args[1])
			return nil
		},
	}
	del.Flags().BoolVar(&permanent, "permanent", false, "delete for good (only after a soft delete)")

	cmd.AddCommand(list, get, registerCmd, check, del)
	return cmd
}
