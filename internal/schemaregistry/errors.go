package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Error is an error the REST API answers with: Confluent's error code
// (error_code), the HTTP status it goes with, and the message. The codes
// and message formats are Confluent Schema Registry's (its
// rest/exceptions/Errors.java), because clients branch on them.
type Error struct {
	Status  int    // HTTP status
	Code    int    // error_code
	Message string // message
}

func (e *Error) Error() string { return fmt.Sprintf("schema registry: %d %s", e.Code, e.Message) }

// Confluent's error codes.
const (
	CodeSubjectNotFound            = 40401
	CodeVersionNotFound            = 40402
	CodeSchemaNotFound             = 40403
	CodeSubjectSoftDeleted         = 40404
	CodeSubjectNotSoftDeleted      = 40405
	CodeVersionSoftDeleted         = 40406
	CodeVersionNotSoftDeleted      = 40407
	CodeSubjectCompatNotConfigured = 40408
	CodeSubjectModeNotConfigured   = 40409
	CodeIncompatibleSchema         = 409
	CodeInvalidSchema              = 42201
	CodeInvalidVersion             = 42202
	CodeInvalidCompatibility       = 42203
	CodeInvalidMode                = 42204
	CodeOperationNotPermitted      = 42205
	CodeReferenceExists            = 42206
	CodeIDDoesNotMatch             = 42207
	CodeInvalidSubject             = 42208
	CodeSchemaTooLarge             = 42209
	CodeStoreError                 = 50001
	CodeOperationTimeout           = 50002
)

func newErr(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(subject string) *Error {
	return newErr(http.StatusNotFound, CodeSubjectNotFound, "Subject '%s' not found.", subject)
}

func errVersionNotFound(version int) *Error {
	return newErr(http.StatusNotFound, CodeVersionNotFound, "Version %d not found.", version)
}

func errSchemaNotFound() *Error {
	return newErr(http.StatusNotFound, CodeSchemaNotFound, "Schema not found")
}

func errSchemaIDNotFound(id int64) *Error {
	return newErr(http.StatusNotFound, CodeSchemaNotFound, "Schema %d not found", id)
}

func errSubjectSoftDeleted(subject string) *Error {
	return newErr(http.StatusNotFound, CodeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
}

func errSubjectNotSoftDeleted(subject string) *Error {
	return newErr(http.StatusNotFound, CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
}

func errVersionSoftDeleted(subject string, version int) *Error {
	return newErr(http.StatusNotFound, CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, version)
}

func errVersionNotSoftDeleted(subject string, version int) *Error {
	return newErr(http.StatusNotFound, CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, version)
}

func errCompatNotConfigured(subject string) *Error {
	return newErr(http.StatusNotFound, CodeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
}

func errModeNotConfigured(subject string) *Error {
	return newErr(http.StatusNotFound, CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
}

func errIncompatible(subject string, reasons []string) *Error {
	return newErr(http.StatusConflict, CodeIncompatibleSchema,
		"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: %v", subject, reasons)
}

func errInvalidSchema(format string, args ...any) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidSchema, format, args...)
}

func errInvalidVersion(v string) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidVersion,
		"The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errInvalidCompatibility() *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidCompatibility,
		"Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
}

func errInvalidMode() *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidMode,
		"Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, and IMPORT.")
}

func errNotPermitted(format string, args ...any) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeOperationNotPermitted, format, args...)
}

func errReferenceExists(subject string, version int) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeReferenceExists,
		"One or more references exist to the schema {subject=%s,version=%d}.", subject, version)
}

func errInvalidSubject(subject string) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeInvalidSubject, "The specified subject '%s' is not a valid.", subject)
}

func errSchemaTooLarge(max int) *Error {
	return newErr(http.StatusUnprocessableEntity, CodeSchemaTooLarge, "Schema is too large: more than %d bytes", max)
}

// errStore wraps a metadata store failure (50001), or a timeout (50002).
func errStore(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newErr(http.StatusInternalServerError, CodeOperationTimeout, "Operation timed out: %v", err)
	}
	return newErr(http.StatusInternalServerError, CodeStoreError, "Error in the backend data store: %v", err)
}
