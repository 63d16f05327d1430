package objstore

// The cloud drivers linked into the binary. Open hands any URL whose scheme
// is not file:// to gocloud.dev/blob, which dispatches on these:
//
//	s3://bucket?region=R&endpoint=URL&use_path_style=true   AWS S3 and S3-compatible stores
//	gs://bucket                                            Google Cloud Storage
//	azblob://container                                     Azure Blob Storage
//
// Credentials come from each cloud's standard environment and config files
// (for S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
// ~/.aws/config and ~/.aws/credentials, instance and pod roles).
// docs/deploy.md lists the URL options.
import (
	_ "gocloud.dev/blob/azureblob" // azblob://
	_ "gocloud.dev/blob/gcsblob"   // gs://
	_ "gocloud.dev/blob/s3blob"    // s3://
)
