// The one list of built-in components. Adding a format, codec, destination, source or sink is
// one file in its stage folder plus one line here; the config schema and docs follow from it.
import { fileSource } from '../sources/file.js';
import { inlineSource } from '../sources/inline.js';
import { inboxSource } from '../sources/inbox.js';
import { sqlSource } from '../sources/sql.js';
import { csv } from '../formats/csv.js';
import { ndjson } from '../formats/ndjson.js';
import { json } from '../formats/json.js';
import { xml } from '../formats/xml.js';
import { fixedWidth } from '../formats/fixed-width.js';
import { gzip } from '../codecs/gzip.js';
import { pgp } from '../codecs/pgp.js';
import { local } from '../destinations/local.js';
import { ftp } from '../destinations/ftp.js';
import { httpUpload } from '../destinations/http-upload.js';
import { sftp } from '../destinations/sftp.js';
import { s3 } from '../destinations/s3.js';
import { gcs } from '../destinations/gcs.js';
import { fileSink } from '../sinks/file/file.js';
import { handlerSink } from '../sinks/handler.js';
import { httpSink } from '../sinks/http.js';
import { sqlSink } from '../sinks/sql.js';
import type { CodecDef, DestinationDef, FormatDef, SinkDef, SourceDef } from './component.js';

export interface Registry {
  readonly sources: readonly SourceDef[];
  readonly formats: readonly FormatDef[];
  readonly codecs: readonly CodecDef[];
  readonly destinations: readonly DestinationDef[];
  readonly sinks: readonly SinkDef[];
}

const sources = [fileSource, inlineSource, inboxSource, sqlSource] as readonly SourceDef[];
const formats = [csv, ndjson, json, xml, fixedWidth] as readonly FormatDef[];
const codecs = [gzip, pgp] as readonly CodecDef[];
const destinations = [local, sftp, ftp, httpUpload, s3, gcs] as readonly DestinationDef[];
const sinks = [fileSink({ formats, codecs, destinations }), handlerSink, httpSink, sqlSink] as readonly SinkDef[];

export const registry: Registry = { sources, formats, codecs, destinations, sinks };
