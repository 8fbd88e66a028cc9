/**
 * The error catalogue: every code lading can emit, with its classification. This table is the
 * one place that decides transient vs permanent (the engine retries transient errors, dead-letters
 * permanent ones). Codes are metric labels and API contract: never rename or reuse one.
 * docs/errors.md is generated from this table (`npm run docs`); a test fails on drift.
 */
export type Category = 'transient' | 'permanent';
export type Stage =
  | 'config' | 'source' | 'validate' | 'map' | 'format' | 'codec'
  | 'destination' | 'sink' | 'store' | 'engine' | 'cli' | 'notify' | 'api';
export type ErrorType =
  | 'LadingError' | 'ConfigError' | 'SourceError' | 'ValidationError' | 'MappingError'
  | 'FormatError' | 'CodecError' | 'DestinationError' | 'StoreError' | 'NetworkError' | 'UsageError'
  | 'RateLimitError' | 'AuthError';

export interface CodeSpec {
  readonly type: ErrorType;
  readonly category: Category;
  readonly stage: Stage;
  /** Status the REST API answers with when this error reaches a client. */
  readonly http: number;
  readonly message: string;
  readonly fix: string;
  /** A destination failure that will not heal by itself (credentials, permissions, host key): the pipeline's deliveries are suspended until an operator resumes them. */
  readonly suspends?: boolean;
}

const spec = (type: ErrorType, category: Category, stage: Stage, http: number, message: string, fix: string, extra: { suspends?: boolean } = {}): CodeSpec =>
  ({ type, category, stage, http, message, fix, ...extra });

export const codes = {
  CONFIG_NOT_FOUND: spec('ConfigError', 'permanent', 'config', 400, 'The pipeline file cannot be read.', 'Check the path given to the command.'),
  CONFIG_YAML_SYNTAX: spec('ConfigError', 'permanent', 'config', 400, 'The pipeline file is not valid YAML.', 'Fix the YAML at the line and column shown.'),
  CONFIG_INVALID: spec('ConfigError', 'permanent', 'config', 400, 'A config key has a wrong type or value, is missing, or is unknown.', 'Fix the key at the path shown; docs/config-reference.md lists every key.'),
  CONFIG_ENV_MISSING: spec('ConfigError', 'permanent', 'config', 400, 'A ${env:NAME} reference names an unset environment variable.', 'Export the variable before running, or remove the reference.'),
  CONFIG_SECRET_LITERAL: spec('ConfigError', 'permanent', 'config', 400, 'A password, key or token is written into the pipeline file: it would be stored with every run and shown by `config print`.', 'Write it as ${env:NAME} (or use the key\'s *_file variant) and export the variable.'),
  CONFIG_UNSAFE_PATH: spec('ConfigError', 'permanent', 'config', 400, 'A file naming pattern could escape the destination folder.', 'Remove "..", leading "/" and NUL from output.naming.'),
  CONFIG_KEY_INVALID: spec('ConfigError', 'permanent', 'config', 400, 'An encryption or signing key cannot be used: unreadable, not a key, a secret key given as public, expired, revoked, without an encryption or signing subkey, or a wrong passphrase.', 'Fix the key named at the config path shown: export a current public key with `gpg --armor --export <id>`, or correct the passphrase.'),
  SOURCE_NOT_FOUND: spec('SourceError', 'permanent', 'source', 400, 'The input file does not exist or cannot be opened.', 'Check source.path and its permissions.'),
  SOURCE_READ_FAILED: spec('SourceError', 'transient', 'source', 503, 'Reading the input failed part way.', 'Check the disk or stream the input comes from, then retry.'),
  SOURCE_MALFORMED_JSON: spec('SourceError', 'permanent', 'source', 400, 'An input line or document is not valid JSON.', 'Fix the record at the line shown; the rest of the input is still processed.'),
  SOURCE_MALFORMED_CSV: spec('SourceError', 'permanent', 'source', 400, 'An input CSV row is malformed (wrong column count, stray quote).', 'Fix the row at the line shown; the rest of the input is still processed.'),
  SOURCE_BAD_ENCODING: spec('SourceError', 'permanent', 'source', 400, 'Input bytes are not valid UTF-8.', 'Re-export the input as UTF-8, or fix the bytes at the line shown.'),
  SOURCE_CORRUPT: spec('SourceError', 'permanent', 'source', 400, 'Compressed input is corrupt or truncated.', 'Re-create the input file; check it with `gzip -t`.'),
  SOURCE_NOT_A_RECORD: spec('SourceError', 'permanent', 'source', 400, 'An input value is valid JSON but not an object.', 'Each record must be a JSON object ({...}).'),
  VALIDATE_REQUIRED: spec('ValidationError', 'permanent', 'validate', 422, 'A required field is missing or empty.', 'Send the field, or remove it from validate.required.'),
  VALIDATE_TYPE: spec('ValidationError', 'permanent', 'validate', 422, 'A field has the wrong type.', 'Send the type the rule declares.'),
  VALIDATE_FORMAT: spec('ValidationError', 'permanent', 'validate', 422, 'A field does not match its format (email, phone, url, date).', 'Correct the value, or make the rule severity: warn.'),
  VALIDATE_PATTERN: spec('ValidationError', 'permanent', 'validate', 422, 'A field does not match its pattern.', 'Correct the value, or adjust the rule\'s pattern.'),
  VALIDATE_ENUM: spec('ValidationError', 'permanent', 'validate', 422, 'A field is not one of the allowed values.', 'Send one of the values listed in the rule.'),
  VALIDATE_LENGTH: spec('ValidationError', 'permanent', 'validate', 422, 'A field is shorter or longer than allowed.', 'Correct the value, or adjust min_length/max_length.'),
  VALIDATE_RANGE: spec('ValidationError', 'permanent', 'validate', 422, 'A number is outside its allowed range.', 'Correct the value, or adjust min/max.'),
  MAP_TRANSFORM_FAILED: spec('MappingError', 'permanent', 'map', 422, 'A transform cannot be applied to a field value.', 'Correct the value, add a default, or change the transform.'),
  FORMAT_UNKNOWN_FIELD: spec('FormatError', 'permanent', 'format', 422, 'A record has a field the file layout has no column for.', 'Declare the output fields with map (or format.columns), or drop the field.'),
  FORMAT_TOO_MANY_PARTITIONS: spec('FormatError', 'permanent', 'format', 422, 'A record would open more partitions than output.partition.max_partitions.', 'Partition by a field with fewer values, or raise max_partitions.'),
  FORMAT_RECORD_TOO_LARGE: spec('FormatError', 'permanent', 'format', 422, 'One record alone exceeds output.split.max_bytes.', 'Raise output.split.max_bytes or shorten the record.'),
  FORMAT_UNENCODABLE_VALUE: spec('FormatError', 'permanent', 'format', 422, 'A record holds a value the format cannot encode (a circular structure).', 'Map the record to plain values before the output.'),
  FORMAT_INVALID_CHARACTER: spec('FormatError', 'permanent', 'format', 422, 'A value holds a character the output cannot carry: one XML 1.0 forbids, or one the file encoding lacks.', 'Clean the value with map, or set the format\'s invalid_chars / unencodable to replace.'),
  FORMAT_INVALID_NAME: spec('FormatError', 'permanent', 'format', 422, 'A field name cannot be an XML element or attribute name (it starts with a digit, holds a space, …).', 'Rename the field with map: a letter or _ first, then letters, digits, - _ or .'),
  FORMAT_VALUE_TOO_WIDE: spec('FormatError', 'permanent', 'format', 422, 'A value is wider than its fixed-width field.', 'Shorten the value with map, widen the field, or set format.overflow: truncate (text fields only).'),
  CODEC_FAILED: spec('CodecError', 'permanent', 'codec', 500, 'A compression or encryption step failed.', 'See the cause; this usually means a corrupt key or a full disk.'),
  DEST_WRITE_FAILED: spec('DestinationError', 'transient', 'destination', 503, 'Writing a file to the destination failed.', 'Check space and connectivity; the delivery is retried.'),
  DEST_PERMISSION_DENIED: spec('DestinationError', 'permanent', 'destination', 403, 'The destination refuses writes (permission denied or read-only).', 'Grant write access to the destination path.', { suspends: true }),
  DEST_AUTH_FAILED: spec('AuthError', 'permanent', 'destination', 502, 'The destination refused the credentials (wrong user, password or key, expired token).', 'Fix the credentials, then `lading deliveries resume <pipeline>`: deliveries stay suspended until then.', { suspends: true }),
  DEST_SUSPENDED: spec('DestinationError', 'permanent', 'destination', 503, 'Deliveries of this pipeline are suspended after a failure that will not heal by itself.', 'Fix the cause shown by `lading deliveries status <pipeline>`, then `lading deliveries resume <pipeline>`.'),
  DEST_NOT_FOUND: spec('DestinationError', 'permanent', 'destination', 404, 'The destination folder does not exist and cannot be created.', 'Create the folder or fix destination.path.'),
  DEST_COLLISION: spec('DestinationError', 'permanent', 'destination', 409, 'A file with the same name already exists at the destination.', 'Make output.naming unique (add {batch_id} or {time}), or set output.on_collision.'),
  DEST_VERIFY_MISMATCH: spec('DestinationError', 'transient', 'destination', 502, 'The delivered file\'s size or checksum differs from what was sent.', 'The delivery is retried; if it persists, check the destination storage.'),
  DEST_SFTP_HOST_KEY: spec('DestinationError', 'permanent', 'destination', 502, 'The SFTP server presented a host key other than the one pinned in host_key or recorded on first use: the server was re-keyed or reinstalled, or someone is in the middle.', 'Confirm the new key with the partner (`ssh-keygen -l -f` on their host key); then pin it: set destination.host_key to the new fingerprint the message names (a pinned key takes precedence over the recorded one), and `lading deliveries resume <pipeline>`.', { suspends: true }),
  DEST_FTP_REJECTED: spec('DestinationError', 'permanent', 'destination', 502, 'The FTP server refused a command with a permanent 5xx reply other than a login, permission or missing-path refusal (command not implemented, file name not allowed, bad sequence).', 'Read the server\'s reply in the message; check destination.remote_path, the file names output.naming produces and what the server supports (SIZE, RNFR/RNTO); a run delivers the same files again.'),
  DEST_S3_REJECTED: spec('DestinationError', 'permanent', 'destination', 502, 'S3 (or the S3-compatible store) refused a request with a 4xx other than a credentials, missing-bucket or collision answer: an invalid storage class, KMS key, metadata or key name, an object too large.', 'Read S3\'s error code in the message and fix the destination setting it names (storage_class, server_side_encryption, kms_key_id, metadata, prefix); a run delivers the same files again.'),
  DEST_GCS_REJECTED: spec('DestinationError', 'permanent', 'destination', 502, 'Google Cloud Storage refused a request with a 4xx other than a credentials, missing-bucket or collision answer: invalid metadata or object name, a bucket policy (retention, uniform access) that forbids the write.', 'Read the reason in the message and fix the destination setting or bucket policy it names; a run delivers the same files again.'),
  DEST_BREAKER_OPEN: spec('DestinationError', 'transient', 'destination', 503, 'The destination circuit breaker of the pipeline is open after delivery.circuit_breaker.failures failed deliveries in a row: files are rendered and staged but not sent.', 'Check the partner\'s server; after delivery.circuit_breaker.cool_down the next delivery is a canary, and its success sends the staged backlog (or `lading deliveries retry --pipeline <name>`).'),
  DEST_ACK_TIMEOUT: spec('DestinationError', 'permanent', 'destination', 504, 'The partner did not acknowledge a delivered file within delivery.acknowledgment.timeout (no ack file, or the file still in the incoming folder).', 'Ask the partner whether they picked the file up; `lading deliveries show <id>` names it. `lading deliveries check` keeps polling.'),
  DEST_REMOVE_UNSUPPORTED: spec('DestinationError', 'permanent', 'destination', 501, 'The destination cannot delete a delivered file (http_upload), so a rollback cannot take it back.', 'Ask the partner to delete the file named in the message, or remove it by hand.'),
  NETWORK_TLS_UNTRUSTED: spec('NetworkError', 'permanent', 'destination', 502, 'The server\'s TLS certificate cannot be verified: self-signed or signed by an unknown CA, expired, or issued for another host name.', 'Give the CA that signed the server\'s certificate (PEM) in the destination\'s ca_file (or NODE_EXTRA_CA_CERTS), and connect with the host name the certificate names; reject_unauthorized: false is for tests only. Then `lading deliveries resume <pipeline>`.', { suspends: true }),
  STORE_FAILED: spec('StoreError', 'permanent', 'store', 500, 'The store refused an operation.', 'See the cause; check the database file and its permissions, or the PostgreSQL user, password, database name and privileges.'),
  STORE_BUSY: spec('StoreError', 'transient', 'store', 503, 'The store is locked by another process, or a transaction collided with another one (deadlock, serialization failure, lock timeout).', 'Retried automatically; if it persists, look for a stuck process holding the database.'),
  STORE_UNAVAILABLE: spec('StoreError', 'transient', 'store', 503, 'The PostgreSQL store cannot be reached, or the connection broke (refused, reset, timed out, server shutting down).', 'Retried automatically; check that the server is up and the --db / LADING_DATABASE_URL host and port.'),
  STORE_SCHEMA_NEWER: spec('StoreError', 'permanent', 'store', 500, 'The database was migrated by a newer lading.', 'Upgrade lading, or point --db at another database.'),
  STORE_RUN_NOT_FOUND: spec('StoreError', 'permanent', 'store', 404, 'No run has that id.', 'List runs with `lading runs`.'),
  STORE_DELIVERY_NOT_FOUND: spec('StoreError', 'permanent', 'store', 404, 'No delivery has that id.', 'List deliveries with `lading deliveries list`.'),
  STORE_LEASE_LOST: spec('StoreError', 'permanent', 'store', 409, 'A worker\'s lease on a chunk or job ran out and another worker took it over: this worker\'s results are not recorded (the new holder\'s are).', 'Nothing to do: the chunk is redone by its new holder. If it happens often, raise `lading worker --lease` or look for a worker starved of CPU or cut off from the database.'),
  DEST_NOT_RETRYABLE: spec('DestinationError', 'permanent', 'destination', 409, 'The delivery cannot be sent again from its staged file: it is already at the partner, or its staged file is gone.', 'Check `lading deliveries show <id>`; a delivery without a staged file is rendered again by the next run of its batch.'),
  DEST_STAGING_TOO_LARGE: spec('DestinationError', 'permanent', 'destination', 413, 'A file awaiting redelivery is larger than the store keeps (LADING_STAGING=database holds files up to LADING_STAGING_MAX_BYTES, default 64MB); it stays staged on the machine that rendered it.', 'Stage files in a bucket every worker can read: LADING_STAGING=s3://bucket/prefix (or --staging), or raise LADING_STAGING_MAX_BYTES.'),
  NETWORK_FAILED: spec('NetworkError', 'transient', 'destination', 503, 'A network connection failed (reset, refused, timed out, DNS).', 'Retried automatically; check connectivity if it persists.'),
  SINK_HTTP_TRANSIENT: spec('NetworkError', 'transient', 'sink', 503, 'The HTTP endpoint answered 408, 425 or 5xx: a temporary failure.', 'Retried automatically, honouring Retry-After; check the endpoint\'s status if it persists.'),
  SINK_HTTP_RATE_LIMITED: spec('RateLimitError', 'transient', 'sink', 429, 'The HTTP endpoint answered 429 Too Many Requests.', 'Retried after Retry-After; lower execution.rate_limit or execution.concurrency.'),
  SINK_HTTP_TIMEOUT: spec('NetworkError', 'transient', 'sink', 504, 'An HTTP request got no complete answer within output.timeout.', 'Retried automatically; raise output.timeout if the endpoint is slow but healthy.'),
  SINK_HTTP_AUTH: spec('AuthError', 'permanent', 'sink', 502, 'The HTTP endpoint refused the credentials (401 or 403).', 'Check output.auth and the credential\'s permissions, then retry the failed items.'),
  SINK_HTTP_REJECTED: spec('DestinationError', 'permanent', 'sink', 502, 'The HTTP endpoint refused the request (a 4xx, an unexpected status, or a 2xx whose body fails output.success).', 'Read the response excerpt in the message; fix the record or the mapping, then retry the failed items.'),
  SINK_HTTP_BAD_RESPONSE: spec('DestinationError', 'permanent', 'sink', 502, 'The HTTP endpoint answered with a body that is not the JSON output.success.json_path expects.', 'Check output.success.json_path against what the endpoint returns.'),
  SINK_HTTP_TEMPLATE: spec('MappingError', 'permanent', 'sink', 422, 'A record lacks a field (or holds an unusable value) that output.url, output.headers or output.body_template names.', 'Send the field, add it with map, or change the template.'),
  SINK_SQL_CONSTRAINT: spec('ValidationError', 'permanent', 'sink', 422, 'The database refused a row: it violates a unique key, NOT NULL, foreign key or check constraint.', 'Read the constraint in the message; fix the record (or validate it before the output), or use mode: upsert or on_conflict: ignore for rows that may already exist.'),
  SINK_SQL_DATA: spec('ValidationError', 'permanent', 'sink', 422, 'A value cannot be stored in its column (wrong type, out of range, too long), or a record has a field that is not among the columns written.', 'Convert the value with map or validate it first; set output.columns to choose the fields written.'),
  SINK_SQL_NO_ROW: spec('DestinationError', 'permanent', 'sink', 404, 'mode: update found no row with the item\'s key.', 'Insert the row first, use mode: upsert, or set output.on_missing: ignore.'),
  SINK_SQL_TRANSIENT: spec('DestinationError', 'transient', 'sink', 503, 'The database asked to try again: serialization failure, deadlock, lock or statement timeout, SQLite busy, too many connections.', 'Retried automatically; if it persists, look for long transactions holding locks on the table.'),
  SINK_SQL_CONNECT: spec('NetworkError', 'transient', 'sink', 503, 'The database cannot be reached, or the connection broke (refused, reset, timed out, server shutting down).', 'Retried automatically; check the server and output.database.url\'s host and port.'),
  SINK_SQL_REFUSED: spec('DestinationError', 'permanent', 'sink', 500, 'The database refuses the statement or the login: table or column missing, no unique key for upsert, permission denied, wrong password, no such database.', 'Fix output.table, output.columns, output.key or the grants named in the message; `lading validate` checks them without writing.'),
  SOURCE_SQL_QUERY: spec('SourceError', 'permanent', 'source', 400, 'The source database refuses the query or the login (no such table, permission denied, wrong password), the query is not a SELECT, or it does not return source.key as a unique, non-null column.', 'Fix source.query, source.key or the grants; the message carries the database\'s own words.'),
  SOURCE_SQL_UNAVAILABLE: spec('SourceError', 'transient', 'source', 503, 'The source database cannot be reached, broke the connection, or is locked.', 'Retried automatically; check the server (or the process holding the SQLite file) if it persists.'),
  SINK_HANDLER_MISSING: spec('ConfigError', 'permanent', 'sink', 400, 'The handler module cannot be loaded or exports neither process nor processChunk.', 'Check output.module and that it exports process(item, ctx) or processChunk(items, ctx).'),
  SINK_HANDLER_REJECTED: spec('LadingError', 'permanent', 'sink', 422, 'The handler rejected the item for good (permanentError).', 'Fix the item or the handler; retry with `lading dlq retry`.'),
  SINK_HANDLER_RETRY: spec('LadingError', 'transient', 'sink', 503, 'The handler asked for the item to be tried again later (transientError).', 'Retried automatically per execution.retry.'),
  SINK_HANDLER_TIMEOUT: spec('LadingError', 'transient', 'sink', 504, 'The handler did not finish within execution.timeout and was abandoned.', 'Raise execution.timeout or make the handler faster; retried automatically.'),
  RUN_CANCELLED: spec('LadingError', 'permanent', 'engine', 499, 'The run was cancelled.', 'Continue it with `lading run --resume <run-id>`; inbox batches resume where they stopped.'),
  RUN_TIMED_OUT: spec('LadingError', 'permanent', 'engine', 504, 'The run went over execution.max_duration and stopped at a chunk boundary.', 'Continue it with `lading run --resume <run-id>`, or raise execution.max_duration.'),
  RUN_FAILURE_THRESHOLD: spec('LadingError', 'permanent', 'engine', 500, 'More items failed than execution.failure_threshold allows; the run was aborted.', 'Look at error_categories; fix the cause, then `lading dlq retry <run-id>`.'),
  RUN_BREAKER_OPEN: spec('LadingError', 'permanent', 'engine', 503, 'A chunk failed at the sink at or above circuit_breaker.abort_at; the run was aborted.', 'Check the partner is up; `lading run --resume <run-id>` continues after the last committed chunk.'),
  RUN_BUSY: spec('LadingError', 'transient', 'engine', 409, 'The pipeline already has execution.max_parallel_runs runs going.', 'Wait for them, set execution.on_busy: wait, or raise max_parallel_runs.'),
  RUN_NOT_RESUMABLE: spec('LadingError', 'permanent', 'engine', 409, 'The run cannot be resumed (it completed, or is still running).', 'Check `lading runs show <run-id>`; a running run can be paused or cancelled instead.'),
  NOTIFY_UNAVAILABLE: spec('NetworkError', 'transient', 'notify', 503, 'A notification channel could not be reached or answered "try later" (connection refused or timed out, SMTP 4xx, HTTP 408/429/5xx); the notification was not sent.', 'Check the mail server or webhook endpoint named in `lading alerts`; the run itself is unaffected, and the next breach is told again.'),
  NOTIFY_AUTH_FAILED: spec('AuthError', 'permanent', 'notify', 502, 'A notification channel refused its credentials (SMTP login, HTTP 401/403: a revoked Slack webhook or PagerDuty key).', 'Fix notify.*.smtp.username/password, webhook_url or routing_key (through ${env:NAME}).'),
  NOTIFY_REJECTED: spec('DestinationError', 'permanent', 'notify', 502, 'A notification channel refused the message for good (recipient or sender refused, SMTP 5xx, HTTP 4xx).', 'Read the reply in `lading alerts`; fix the addresses or the endpoint in notify:.'),
  TRIGGER_NOT_INBOX: spec('ConfigError', 'permanent', 'config', 400, 'The pipeline does not read from an inbox, so there is no batch to flush or schedule.', 'Give the pipeline source: {type: inbox} (and a batch: section for automatic triggers), or run it with `lading run`.'),
  TRIGGER_UNKNOWN_PIPELINE: spec('UsageError', 'permanent', 'engine', 404, 'No pipeline with that name is loaded in the scheduler.', 'Check the pipeline name (the `name:` in its config) and that its file is in the pipelines folder.'),
  TRACE_NOT_FOUND: spec('UsageError', 'permanent', 'cli', 404, 'No inbox record has that id or idempotency key, and no run recorded a failure of an item with that id.', 'Give an inbox record id (`42` or `inbox:42`), the idempotency key it was ingested with, or the item id a failed item was reported under (`lading dlq list`). Records removed by retention (`lading purge`) cannot be traced.'),
  INGEST_NOT_INBOX: spec('ConfigError', 'permanent', 'config', 400, 'The pipeline file given to `lading ingest` does not read from an inbox: no run would ever take the records.', 'Give the pipeline source: {type: inbox}, or deliver the file with `lading run` of a pipeline that reads it.'),
  USAGE_INVALID: spec('UsageError', 'permanent', 'cli', 400, 'A command was called with wrong arguments.', 'See `lading <command> --help`.'),
  // lading serve: the HTTP API and its pipeline catalog
  CONFIG_DUPLICATE_PIPELINE: spec('ConfigError', 'permanent', 'config', 400, 'Two pipeline files given to `lading serve` declare the same name.', 'Rename one of the two files\' `name:`, or serve only one of them.'),
  API_UNAUTHORIZED: spec('AuthError', 'permanent', 'api', 401, 'The request carries no API key, or one that is unknown, malformed or revoked.', 'Send `Authorization: Bearer <key>` (or `X-API-Key: <key>`) with a key from `lading keys create`.'),
  API_FORBIDDEN: spec('AuthError', 'permanent', 'api', 403, 'The API key lacks the scope this endpoint needs.', 'Create a key with the scope named in the message (`lading keys create --scope …`).'),
  API_BAD_REQUEST: spec('UsageError', 'permanent', 'api', 400, 'The request is malformed: invalid JSON or NDJSON, or parameters or a body that do not match the endpoint\'s schema.', 'Fix the request as the message says; the OpenAPI document at /docs describes every endpoint.'),
  API_RECORDS_REJECTED: spec('ValidationError', 'permanent', 'api', 400, 'No record of an ingest request was accepted: each failed the pipeline\'s validate rules or is not a JSON object.', 'Fix the records listed in details.rejected (index and reasons) and send them again.'),
  API_BODY_TOO_LARGE: spec('UsageError', 'permanent', 'api', 413, 'The request body is larger than the server\'s --body-limit.', 'Split the records over several requests, or start the server with a larger --body-limit.'),
  API_UNSUPPORTED_MEDIA_TYPE: spec('UsageError', 'permanent', 'api', 415, 'The request\'s Content-Type is not one the endpoint accepts.', 'Send application/json (an object or an array) or application/x-ndjson (one object per line).'),
  API_NOT_FOUND: spec('UsageError', 'permanent', 'api', 404, 'No endpoint has that method and path.', 'See the OpenAPI document at /docs.'),
  API_PIPELINE_NOT_FOUND: spec('UsageError', 'permanent', 'api', 404, 'The server serves no pipeline of that name.', 'List the served pipelines with GET /v1/pipelines; give the pipeline file to `lading serve`.'),
  API_PIPELINE_NOT_INBOX: spec('UsageError', 'permanent', 'api', 409, 'Records can be ingested only into a pipeline whose source is the inbox.', 'Set `source: {type: inbox}` in the pipeline, or submit the records as a job (POST /v1/jobs with items).'),
  API_INBOX_FULL: spec('RateLimitError', 'transient', 'api', 429, 'The pipeline\'s inbox holds source.max_pending records or more: it takes no more until a batch is cut.', 'Send again after Retry-After; raise source.max_pending, or cut batches sooner.'),
  API_JOB_NOT_FOUND: spec('UsageError', 'permanent', 'api', 404, 'No job with that id is visible to this API key (it does not exist, or another owner submitted it).', 'Use the job_id POST /v1/jobs returned, with a key of the same owner (or an admin key).'),
  API_JOB_NOT_RUNNING: spec('UsageError', 'permanent', 'api', 409, 'The job is not in a state that allows this action (pause, resume or cancel a job that is not running; retry a job still running).', 'Check the job\'s status with GET /v1/jobs/{id}.'),
  API_ARTIFACT_NOT_FOUND: spec('UsageError', 'permanent', 'api', 404, 'The job delivered no file of that name to a local destination this server can read, or to a bucket it can sign a link for.', 'List the job\'s files in GET /v1/jobs/{id}/files; files on a local, s3 or gcs destination can be downloaded.'),
  API_ARTIFACT_UNSIGNABLE: spec('UsageError', 'permanent', 'api', 409, 'The file lies in a bucket whose configured credentials cannot sign a download link (GCS Application Default Credentials without a private key, or an emulator endpoint without key_file).', 'Give the destination a service account key (key_file), or fetch the object with your own credentials from the uri in GET /v1/jobs/{id}/files.'),
  API_DEAD_LETTER_NOT_FOUND: spec('UsageError', 'permanent', 'api', 404, 'None of the item ids named is a dead letter of the job still waiting (they are unknown, or already retried or skipped).', 'List the job\'s dead letters with GET /v1/jobs/{id}/dead-letters and name item ids whose status is dead.'),
  API_KEY_NOT_FOUND: spec('UsageError', 'permanent', 'api', 404, 'No active API key has that id.', 'List keys with `lading keys list`.'),
  API_SHUTTING_DOWN: spec('LadingError', 'transient', 'api', 503, 'The server is shutting down and takes no new jobs.', 'Submit the job again once the server is back.'),
  UNCLASSIFIED: spec('LadingError', 'transient', 'engine', 500, 'An unexpected error.', 'Retried a bounded number of times; report it with the cause if it persists.'),
} as const satisfies Record<string, CodeSpec>;

export type ErrorCode = keyof typeof codes;

export const isErrorCode = (value: string): value is ErrorCode => Object.hasOwn(codes, value);
