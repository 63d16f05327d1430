// Package tableflow turns Kafka topics into Apache Iceberg tables: the
// `sluice tableflow` role.
//
// A [Service] reads a [Config] (tableflow.yaml), takes table leases in its
// [Store] (SQLite or PostgreSQL), and for each owned table consumes the
// source topic with franz-go from the offsets stored with the table,
// converts records to Arrow, and commits Parquet data files as Iceberg
// snapshots through a [Catalog]: iceberg-go writes the data files,
// manifests, manifest list and metadata file, and the catalog's commit
// moves the store's metadata location and the Kafka offsets in one
// conditional statement, which is what makes ingestion exactly once.
// Maintenance (retention, compaction, snapshot expiry, orphan cleanup) runs
// on the owning worker between commits. [RESTHandler] serves the read side
// of the Iceberg REST catalog protocol; the config's external_catalogs are
// Iceberg SQL (JDBC) catalogs each commit's metadata location is copied
// into, in the background.
//
//	cfg, err := tableflow.LoadConfig("tableflow.yaml")
//	svc, err := tableflow.New(ctx, cfg, tableflow.Options{})
//	go http.ListenAndServe(":8181", svc.RESTHandler())
//	err = svc.Run(ctx)
package tableflow
