package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/filetool"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/objstore"
)

// storageFlags name the bucket and metadata store the files commands read
// directly (not through an agent).
type storageFlags struct {
	dataDir, bucketURL, metadataURL string
}

func (s *storageFlags) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&s.dataDir, "data-dir", "./sluice-data", "data directory of `sluice dev` (used when --bucket-url/--metadata-url are not given)")
	f.StringVar(&s.bucketURL, "bucket-url", "", "object storage URL, as for `sluice agent`")
	f.StringVar(&s.metadataURL, "metadata-url", "", "metadata store URL, as for `sluice agent`")
}

// urls returns the bucket and metadata URLs to open: both flags, or both
// from an existing --data-dir. One flag alone is refused, since a
// cluster's metadata beside the default local bucket would report every
// file missing; so is a data directory that does not exist, which opening
// would create empty.
func (s *storageFlags) urls() (bucketURL, metadataURL string, err error) {
	switch {
	case s.bucketURL != "" && s.metadataURL != "":
		return s.bucketURL, s.metadataURL, nil
	case s.bucketURL != "" || s.metadataURL != "":
		return "", "", errors.New("--bucket-url and --metadata-url go together: give both (a cluster's), or neither to use --data-dir")
	}
	if fi, err := os.Stat(s.dataDir); err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("--data-dir %s: no such directory (give the data directory of a sluice dev, or --bucket-url and --metadata-url)", s.dataDir)
	}
	return agent.DataDirURLs(s.dataDir)
}

func (s *storageFlags) open(ctx context.Context, needStore bool) (objstore.Bucket, metadata.Store, error) {
	bucketURL, metadataURL, err := s.urls()
	if err != nil {
		return nil, nil, err
	}
	bucket, err := objstore.Open(ctx, bucketURL)
	if err != nil {
		return nil, nil, err
	}
	if !needStore {
		return bucket, nil, nil
	}
	store, err := agent.OpenMetadata(ctx, metadataURL)
	if err != nil {
		bucket.Close()
		return nil, nil, err
	}
	return bucket, store, nil
}

func newFilesCmd() *cobra.Command {
	var sf storageFlags
	cmd := &cobra.Command{
		Use:   "files",
		Short: "Inspect and verify the data files in the bucket",
	}
	sf.register(cmd)
	var noNames bool
	inspect := &cobra.Command{
		Use:   "inspect <object key>",
		Short: "Print a data file's index and the headers of its record batches",
		Example: `  sluice files inspect files/2026/11/27/10/187b…-a1b2c3.slc
  sluice files inspect --bucket-url s3://my-bucket --metadata-url postgres://… <key>`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			bucket, names, done, err := sf.openNamed(ctx, !noNames)
			if err != nil {
				return err
			}
			defer done()
			return filetool.Inspect(ctx, bucket, args[0], names, cmd.OutOrStdout())
		},
	}
	inspect.Flags().BoolVar(&noNames, "no-names", false, "do not open the metadata store to name topics")
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check that every file the metadata references is in the bucket with a matching checksum",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			bucket, store, err := sf.open(ctx, true)
			if err != nil {
				return err
			}
			defer bucket.Close()
			defer store.Close()
			rep, err := filetool.Verify(ctx, store, bucket, func(done int) {
				if done%1000 == 0 {
					fmt.Fprintf(os.Stderr, "verified %d files…\n", done)
				}
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "files: %d (%d bytes)\nmissing: %d\nsize mismatch: %d\ncorrupt: %d\nunreferenced objects: %d (uploads in flight or orphans awaiting the sweep)\n",
				rep.Files, rep.Bytes, len(rep.Missing), len(rep.SizeMismatch), len(rep.Corrupt), rep.Unreferenced)
			for _, k := range rep.Missing {
				fmt.Fprintf(out, "MISSING %s\n", k)
			}
			for _, k := range rep.SizeMismatch {
				fmt.Fprintf(out, "SIZE %s\n", k)
			}
			for _, k := range rep.Corrupt {
				fmt.Fprintf(out, "CORRUPT %s\n", k)
			}
			if !rep.OK() {
				return fmt.Errorf("%d of %d files failed verification", len(rep.Missing)+len(rep.SizeMismatch)+len(rep.Corrupt), rep.Files)
			}
			return nil
		},
	}
	var maxValue int
	read := &cobra.Command{
		Use:   "read <object key>",
		Short: "Print every record of a data file, by chunk and batch",
		Long: `Print every record of a data file: key, value and headers as quoted text
when they are UTF-8, hex otherwise. Offsets are relative to each chunk (a
file holds batches before the metadata store gives them offsets); use
sluice diagnose record for a record's absolute offset.`,
		Example: `  sluice files read files/2026/11/27/10/187b…-a1b2c3.slc
  sluice files read --max-value-bytes -1 <key>`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			bucket, names, done, err := sf.openNamed(ctx, !noNames)
			if err != nil {
				return err
			}
			defer done()
			return filetool.Read(ctx, bucket, args[0], names, filetool.ReadOptions{MaxValueBytes: maxValue}, cmd.OutOrStdout())
		},
	}
	read.Flags().BoolVar(&noNames, "no-names", false, "do not open the metadata store to name topics")
	read.Flags().IntVar(&maxValue, "max-value-bytes", 256, "print at most this many bytes of each key, value and header value (-1: all)")
	var deleteOrphans bool
	var grace time.Duration
	scrub := &cobra.Command{
		Use:   "scrub",
		Short: "Check every file against its checksum and the index, and list (or delete) unreferenced objects",
		Long: `Check every file the metadata store has a record of: present, of its
recorded size, matching its checksum, and every index extent naming it
lying on whole batches of one chunk of its own partition. Lists the
objects under files/ that no record names: uploads still being committed,
or orphans. --delete-orphans deletes those older than --grace-period,
and released files past it, under the same lease the agents' file
deletion job takes, so it never races them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			bucket, store, err := sf.open(ctx, true)
			if err != nil {
				return err
			}
			defer bucket.Close()
			defer store.Close()
			rep, err := filetool.Scrub(ctx, store, bucket, time.Now(), func(done int) {
				if done%1000 == 0 {
					fmt.Fprintf(os.Stderr, "scrubbed %d files…\n", done)
				}
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "files: %d (%d bytes)\nmissing: %d\nsize mismatch: %d\ncorrupt: %d\nextents checked: %d\nindex errors: %d\nunreferenced objects: %d\n",
				rep.Files, rep.Bytes, len(rep.Missing), len(rep.SizeMismatch), len(rep.Corrupt), rep.Extents, len(rep.IndexErrors), len(rep.Orphans))
			for _, k := range rep.Missing {
				fmt.Fprintf(out, "MISSING %s\n", k)
			}
			for _, k := range rep.SizeMismatch {
				fmt.Fprintf(out, "SIZE %s\n", k)
			}
			for _, k := range rep.Corrupt {
				fmt.Fprintf(out, "CORRUPT %s\n", k)
			}
			for _, m := range rep.IndexErrors {
				fmt.Fprintf(out, "INDEX %s\n", m)
			}
			for _, o := range rep.Orphans {
				if o.Journaled {
					fmt.Fprintf(out, "UNREFERENCED %s (age %s, journaled: waits to be sequenced)\n", o.Key, o.Age.Round(time.Second))
				} else {
					fmt.Fprintf(out, "UNREFERENCED %s (age %s)\n", o.Key, o.Age.Round(time.Second))
				}
			}
			if deleteOrphans {
				reg := prometheus.NewRegistry()
				r := jobs.New(jobs.Config{Holder: jobs.NewHolder("sluice-files-scrub"), FileGracePeriod: grace}, store, bucket, reg, slog.New(slog.DiscardHandler))
				err := r.RunFileDeletion(ctx)
				r.Stop() // releases the lease for the agents
				if err != nil {
					return fmt.Errorf("deleting orphans: %w", err)
				}
				if sumMetric(reg, "sluice_jobs_runs_total") == 0 {
					fmt.Fprintf(out, "deleted nothing: an agent holds the file deletion lease and deletes them itself\n")
				} else {
					fmt.Fprintf(out, "deleted %.0f unreferenced objects and released files older than %s\n", sumMetric(reg, "sluice_files_deleted_total"), grace)
				}
			}
			if !rep.OK() {
				return fmt.Errorf("%d of %d files failed the scrub, %d index errors",
					len(rep.Missing)+len(rep.SizeMismatch)+len(rep.Corrupt), rep.Files, len(rep.IndexErrors))
			}
			return nil
		},
	}
	scrub.Flags().BoolVar(&deleteOrphans, "delete-orphans", false, "delete unreferenced objects and released files older than --grace-period")
	scrub.Flags().DurationVar(&grace, "grace-period", time.Hour, "how old an unreferenced object must be to be deleted; as the agents' --file-grace-period, it must exceed the longest upload-to-commit time")
	cmd.AddCommand(inspect, verify, read, scrub)
	return cmd
}

// sumMetric adds up every sample of the counter name in reg.
func sumMetric(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// openNamed opens the bucket and, when names is set, the metadata store to
// name topics by ID; done closes both.
func (s *storageFlags) openNamed(ctx context.Context, names bool) (objstore.Bucket, func(metadata.TopicID) string, func(), error) {
	bucket, store, err := s.open(ctx, names)
	if err != nil {
		return nil, nil, nil, err
	}
	if store == nil {
		return bucket, nil, func() { bucket.Close() }, nil
	}
	return bucket, storeNames(ctx, store), func() { store.Close(); bucket.Close() }, nil
}

// storeNames maps topic IDs to names through the store ("" when unknown).
func storeNames(ctx context.Context, store metadata.Store) func(metadata.TopicID) string {
	return func(id metadata.TopicID) string {
		t, err := store.TopicByID(ctx, id)
		if err != nil {
			return ""
		}
		return t.Name
	}
}
