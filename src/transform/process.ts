import { isUnparsed, itemRef, type Item, type Row } from '../core/item.js';
import type { PipelineConfig } from '../config/pipeline.js';
import { classify } from '../errors/classify.js';
import type { LadingError } from '../errors/lading-error.js';
import type { ItemRef } from '../formats/types.js';
import { buildMapper } from './map.js';
import { buildValidator } from './validate.js';

export interface Processed {
  /** Items that passed validation, with mapped data, in input order. */
  readonly ok: Item[];
  /** Every failure of an item (validation reports all broken fields); the item counts once. */
  readonly failures: Map<string, LadingError[]>;
  readonly warnings: Map<string, LadingError[]>;
}

/** An item that did not simply pass validate → map: its failures (then it has no record), its warnings, or both. */
export class Flagged {
  constructor(
    readonly data: Row | undefined,
    readonly failures: LadingError[] | undefined,
    readonly warnings: LadingError[] | undefined,
  ) {}
}

/**
 * validate → map for one item as its source read it: the mapped record (the item's own when
 * there is no map), or Flagged. One call per item and nothing allocated for an item that
 * passes, so a parse worker (engine/parse-worker.ts) runs it on every record for nothing more.
 */
export function buildItemProcessor(config: Pick<PipelineConfig, 'validate' | 'map'>): (item: Item, ref: ItemRef) => Row | Flagged {
  const validate = config.validate ? buildValidator(config.validate) : undefined;
  const map = config.map ? buildMapper(config.map) : undefined;
  return (item, ref) => {
    if (item.error) return new Flagged(undefined, [item.error], undefined);
    let warnings: LadingError[] | undefined;
    if (validate) {
      const result = validate(item.data, ref);
      if (result.warnings.length > 0) warnings = result.warnings;
      if (result.failures.length > 0) return new Flagged(undefined, result.failures, warnings);
    }
    let data = item.data;
    if (map) {
      try {
        data = map(item.data, ref);
      } catch (error) {
        return new Flagged(undefined, [classify(error, { ioCode: 'MAP_TRANSFORM_FAILED', doing: `mapping ${ref.describe}`, itemId: item.id })], warnings);
      }
    }
    return warnings === undefined ? data : new Flagged(data, undefined, warnings);
  };
}

/**
 * validate → map for one chunk; an item failing either step is a failure, never dropped. Items a
 * worker thread prepared (engine/parallel.ts) went through these steps there and pass with
 * their outcome; unparsed items pass as they are, for the sink's threads to take through them.
 */
export function buildProcessor(config: Pick<PipelineConfig, 'validate' | 'map'>): (items: readonly Item[]) => Processed {
  const processItem = buildItemProcessor(config);
  return (items) => {
    const ok: Item[] = [];
    const failures = new Map<string, LadingError[]>();
    const warnings = new Map<string, LadingError[]>();
    for (const item of items) {
      if (isUnparsed(item)) {
        ok.push(item); // parsed, validated and mapped by the sink's threads, which report what fails
        continue;
      }
      const { prepared } = item;
      if (prepared) {
        if (prepared.warnings) warnings.set(item.id, [...prepared.warnings]);
        if (prepared.failures) failures.set(item.id, [...prepared.failures]);
        else ok.push(item);
        continue;
      }
      let outcome = processItem(item, itemRef(item));
      if (outcome instanceof Flagged) {
        if (outcome.warnings) warnings.set(item.id, outcome.warnings);
        if (outcome.failures) {
          failures.set(item.id, outcome.failures);
          continue;
        }
        outcome = outcome.data!;
      }
      ok.push(outcome === item.data ? item : { ...item, data: outcome });
    }
    return { ok, failures, warnings };
  };
}
