import { z } from 'zod';
import { defineFormat } from '../core/component.js';
import type { Row } from '../core/item.js';
import { ladingError } from '../errors/lading-error.js';
import { describeChar } from './charset.js';
import { jsonText } from './json-text.js';
import type { EncoderContext, FormatEncoder, ItemRef } from './types.js';

// XML 1.0 (fifth edition) Name production without ":" (an NCName: lading declares no
// namespaces, so a prefix could never be bound) and without the range above U+FFFF, which the
// spec allows but common parsers (fast-xml-parser among them) reject.
const nameStart = 'A-Z_a-z\\u{C0}-\\u{D6}\\u{D8}-\\u{F6}\\u{F8}-\\u{2FF}\\u{370}-\\u{37D}\\u{37F}-\\u{1FFF}\\u{200C}-\\u{200D}'
  + '\\u{2070}-\\u{218F}\\u{2C00}-\\u{2FEF}\\u{3001}-\\u{D7FF}\\u{F900}-\\u{FDCF}\\u{FDF0}-\\u{FFFD}';
const nameChar = `${nameStart}\\-.0-9\\u{B7}\\u{300}-\\u{36F}\\u{203F}-\\u{2040}`;
const NAME = new RegExp(`^[${nameStart}][${nameChar}]*$`, 'u');

/** Whether `name` can be an element or attribute name (XML 1.0 Name, without colons). */
export const isXmlName = (name: string): boolean => NAME.test(name);

const nameRule = 'a letter or "_" first, then letters, digits, "-", "_" or "."; no spaces or colons';
const xmlName = (what: string) => z.string().refine(isXmlName, { message: `${what} must be an XML name: ${nameRule}` });

export const xmlConfig = z.object({
  type: z.literal('xml').describe('XML 1.0 in UTF-8: a root element holding one element per record.'),
  root: xmlName('root').default('records').describe('Name of the root element; it carries the batch_id attribute.'),
  record: xmlName('record').default('record').describe('Name of the element written for each record.'),
  attributes: z.array(xmlName('an attribute field')).default([])
    .describe('Fields written as attributes of the record element (e.g. [id]) instead of child elements; objects and arrays are written as JSON text.'),
  nulls: z.enum(['omit', 'empty']).default('omit')
    .describe('A null value: omit leaves the element (or attribute) out; empty writes an empty element <name/> (or name=""). The key is not called "null" because YAML reads a bare null key as null.'),
  invalid_chars: z.enum(['replace', 'block']).default('replace')
    .describe('Characters XML 1.0 cannot hold (control characters other than tab, LF and CR; lone surrogates; U+FFFE and U+FFFF): replace writes U+FFFD instead; block fails the item with FORMAT_INVALID_CHARACTER.'),
  batch_info: z.boolean().default(true)
    .describe('End the root with <batch_info batch_id="…" created="…" count="N"/>; count is the records in this file.'),
  pretty: z.boolean().default(false).describe('Put each element on its own line, indented by 2 spaces per level.'),
}).strict().superRefine((config, ctx) => {
  config.attributes.forEach((name, i) => {
    if (config.attributes.indexOf(name) !== i) ctx.addIssue({ code: 'custom', path: ['attributes', i], message: `attribute "${name}" is listed twice` });
    if (name === 'xmlns') ctx.addIssue({ code: 'custom', path: ['attributes', i], message: '"xmlns" is reserved for namespace declarations' });
  });
  if (config.batch_info && config.record === 'batch_info') {
    ctx.addIssue({ code: 'custom', path: ['record'], message: 'record cannot be "batch_info" while batch_info is on' });
  }
}).meta({ id: 'format.xml' });

export type XmlConfig = z.output<typeof xmlConfig>;

/** Anything text or attribute values must escape or check; one test decides the fast path. */
const SPECIAL_TEXT = /[&<>\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;
const SPECIAL_ATTRIBUTE = /[&<>"'\t\n\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDFFF]/u;

/** Whether XML 1.0 allows the code point in a document (the Char production). */
const isXmlChar = (cp: number): boolean =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

const ESCAPES: Record<string, string> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;',
};

/** Thrown while rendering a value; encode() turns it into an error naming the item and field. */
class Problem {
  constructor(readonly code: 'FORMAT_INVALID_CHARACTER' | 'FORMAT_INVALID_NAME' | 'FORMAT_UNENCODABLE_VALUE', readonly detail: string) {}
}

/**
 * Streams
 *
 *     <?xml version="1.0" encoding="UTF-8"?>
 *     <records batch_id="batch_0001"><record id="1"><name>…</name>…</record>…<batch_info batch_id="batch_0001" created="…" count="2"/></records>
 *
 * and a final newline. The count cannot be an attribute of the root: the root's start tag is
 * written (and may already be compressed) before the file's last record is known, and a split
 * part's count is only known when the part ends. So the root carries batch_id, and count comes
 * in the batch_info element closing the root, as the JSON format puts batch_info after its array.
 *
 * Fields: a top-level field name is split on dots into nested elements (`contact.name.first` →
 * `<contact><name><first>`), and consecutive fields with the same leading path share the open
 * elements; a field that comes later, after another path, opens them again. Names in the
 * `attributes` list are written as attributes of the record element, in the order listed. Values:
 * strings as is; numbers, booleans and bigints via String(); a Date as toISOString(); an object's
 * toJSON() is honoured; a plain object becomes child elements (its keys are not split on dots); an
 * array repeats the element once per entry, and an array directly inside an array is one element
 * holding an <item> per entry; an empty array writes nothing. null, undefined, an invalid Date,
 * functions and symbols follow `nulls` (inside an array an entry is always kept, as an empty
 * element, so positions survive).
 *
 * Escaping: & < > in text (">" so "]]>" cannot appear) and CR as &#13; (a parser would turn a raw
 * CR into LF); in attribute values also " ' and tab and LF as character references (a parser
 * would turn raw ones into spaces). Characters XML 1.0 forbids cannot be written even as
 * references: they are replaced by U+FFFD or fail the item, per invalid_chars.
 */
class XmlEncoder implements FormatEncoder {
  private readonly nl: string;
  private readonly attributes: readonly string[];
  private readonly attributeSet: ReadonlySet<string>;
  private readonly omitNulls: boolean;
  private readonly block: boolean;
  /** Field name → element path, or the reason it is not one. Grows with distinct field names only. */
  private readonly paths = new Map<string, readonly string[] | Problem>();

  constructor(private readonly config: XmlConfig, private readonly ctx: EncoderContext) {
    this.nl = config.pretty ? '\n' : '';
    this.attributes = config.attributes;
    this.attributeSet = new Set(config.attributes);
    this.omitNulls = config.nulls === 'omit';
    this.block = config.invalid_chars === 'block';
    for (const column of ctx.columns ?? []) {
      if (this.attributeSet.has(column)) continue;
      const path = this.path(column);
      if (path instanceof Problem) {
        throw ladingError('CONFIG_INVALID', `pipeline ${ctx.pipeline}: output field ${JSON.stringify(column)} cannot be an XML element: ${path.detail}; rename it in map`, { field: column });
      }
    }
  }

  begin(): Uint8Array {
    const { root } = this.config;
    return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<${root} batch_id="${this.attribute(this.ctx.batchId)}">`, 'utf8');
  }

  encode(record: Row, item: ItemRef): Uint8Array {
    return Buffer.from(this.encodeText(record, item), 'utf8');
  }

  encodeText(record: Row, item: ItemRef): string {
    let field = '';
    try {
      const { nl } = this;
      const pad = this.indent(1);
      let out = `${nl}${pad}<${this.config.record}`;
      for (const name of this.attributes) {
        if (!Object.hasOwn(record, name)) continue;
        field = name;
        const value = this.attributeValue(record[name], item);
        if (value !== undefined) out += ` ${name}="${value}"`;
      }
      let body = '';
      const open: string[] = [];
      for (const key of Object.keys(record)) {
        if (this.attributeSet.has(key)) continue;
        field = key;
        const value = record[key];
        const path = this.path(key);
        if (path instanceof Problem) throw path;
        const plain = this.plain(value);
        if (plain === undefined ? this.omitNulls : Array.isArray(plain) && plain.length === 0) continue;
        const leaf = path.length - 1;
        let shared = 0;
        while (shared < open.length && shared < leaf && open[shared] === path[shared]) shared++;
        while (open.length > shared) body += `${nl}${this.indent(open.length + 1)}</${open.pop()!}>`;
        for (let i = shared; i < leaf; i++) {
          body += `${nl}${this.indent(i + 2)}<${path[i]!}>`;
          open.push(path[i]!);
        }
        body += this.element(path[leaf]!, plain, leaf + 2, []);
      }
      while (open.length > 0) body += `${nl}${this.indent(open.length + 1)}</${open.pop()!}>`;
      out += body === '' ? '/>' : `>${body}${nl}${pad}</${this.config.record}>`;
      return out;
    } catch (error) {
      if (!(error instanceof Problem)) throw error;
      const hint = error.code === 'FORMAT_INVALID_CHARACTER' ? '; set format.invalid_chars: replace to write U+FFFD instead'
        : error.code === 'FORMAT_INVALID_NAME' ? '; rename the field with map' : '';
      throw ladingError(error.code, `${item.describe}: field ${JSON.stringify(field)}: ${error.detail}${hint}`, { itemId: item.id, field });
    }
  }

  /** Pure: the sink also calls it to measure the closing bytes for a prospective count. */
  end(records: number): Uint8Array {
    const { nl } = this;
    let tail = '';
    if (this.config.batch_info) {
      tail += `${nl}${this.indent(1)}<batch_info batch_id="${this.attribute(this.ctx.batchId)}" created="${this.ctx.createdAt.toISOString()}" count="${records}"/>`;
    }
    return Buffer.from(`${tail}${nl}</${this.config.root}>\n`, 'utf8');
  }

  private indent(level: number): string {
    return this.config.pretty ? '  '.repeat(level) : '';
  }

  private path(key: string): readonly string[] | Problem {
    let path = this.paths.get(key);
    if (path === undefined) {
      const segments = key.split('.');
      const bad = segments.find((s) => !isXmlName(s));
      path = bad === undefined ? segments
        : new Problem('FORMAT_INVALID_NAME', `${JSON.stringify(bad)} is not an XML element name (${nameRule}; dots split a field into nested elements)`);
      if (this.paths.size < 10_000) this.paths.set(key, path);
    }
    return path;
  }

  /**
   * The value as what XML writes: a string, an array, a plain object, or undefined for "null".
   * Dates, toJSON() and scalars are resolved here.
   */
  private plain(value: unknown): string | unknown[] | object | undefined {
    switch (typeof value) {
      case 'string': return value;
      case 'number': case 'boolean': case 'bigint': return String(value);
      case 'object': {
        if (value === null) return undefined;
        if (Array.isArray(value)) return value;
        if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
        if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
          const json = (value as { toJSON(): unknown }).toJSON();
          return json === value ? value : this.plain(json);
        }
        return value;
      }
      default: return undefined; // undefined, function, symbol
    }
  }

  /** One element `<name>…</name>` (or one per entry for an array) at indent `level`. */
  private element(name: string, plain: string | unknown[] | object | undefined, level: number, ancestors: object[]): string {
    const { nl } = this;
    const pad = this.indent(level);
    if (plain === undefined) return `${nl}${pad}<${name}/>`;
    if (typeof plain === 'string') return `${nl}${pad}<${name}>${this.text(plain)}</${name}>`;
    if (ancestors.includes(plain)) throw new Problem('FORMAT_UNENCODABLE_VALUE', 'the value contains itself (a circular structure)');
    ancestors.push(plain);
    let out = '';
    if (Array.isArray(plain)) {
      for (const entry of plain) {
        const inner = this.plain(entry);
        out += Array.isArray(inner) ? this.element(name, { item: inner }, level, ancestors) : this.element(name, inner, level, ancestors);
      }
    } else {
      let children = '';
      for (const [key, value] of Object.entries(plain)) {
        if (!isXmlName(key)) throw new Problem('FORMAT_INVALID_NAME', `nested key ${JSON.stringify(key)} is not an XML element name (${nameRule})`);
        const inner = this.plain(value);
        if (inner === undefined ? this.omitNulls : Array.isArray(inner) && inner.length === 0) continue;
        children += this.element(key, inner, level + 1, ancestors);
      }
      out = children === '' ? `${nl}${pad}<${name}/>` : `${nl}${pad}<${name}>${children}${nl}${pad}</${name}>`;
    }
    ancestors.pop();
    return out;
  }

  /** An attribute's escaped value, or undefined to leave the attribute out. */
  private attributeValue(value: unknown, item: ItemRef): string | undefined {
    const plain = this.plain(value);
    if (plain === undefined) return this.omitNulls ? undefined : '';
    if (typeof plain === 'string') return this.attribute(plain);
    return this.attribute(jsonText(plain, item));
  }

  private text(value: string): string {
    return SPECIAL_TEXT.test(value) ? this.escape(value, false) : value;
  }

  private attribute(value: string): string {
    return SPECIAL_ATTRIBUTE.test(value) ? this.escape(value, true) : value;
  }

  private escape(value: string, attribute: boolean): string {
    let out = '';
    for (const char of value) {
      const cp = char.codePointAt(0)!;
      if (!isXmlChar(cp)) {
        if (this.block) throw new Problem('FORMAT_INVALID_CHARACTER', `holds ${describeChar(char)}, which XML 1.0 cannot contain`);
        out += '\uFFFD';
        continue;
      }
      const escaped = ESCAPES[char];
      out += escaped !== undefined && (attribute || char === '&' || char === '<' || char === '>' || char === '\r') ? escaped : char;
    }
    return out;
  }
}

export const xml = defineFormat({
  type: 'xml',
  summary: 'XML 1.0 (UTF-8): a root element with batch_id, one element per record, dotted fields as nested elements, and a closing batch_info with the count.',
  schema: xmlConfig,
  extension: 'xml',
  thread: { module: import.meta.url, name: 'xml' },
  mediaType: 'application/xml',
  encoder: (config, ctx): FormatEncoder => new XmlEncoder(config, ctx),
});
