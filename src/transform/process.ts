import { itemRef, type Item, type Row } from '../core/item.js';
import type { PipelineConfig } from '../config/pipeline.js';
import { classify } from '../errors/classify.js';
import type { LadingError } from '../errors/lading-error.js';
import { buildMapper } from './map.js';
import { buildValidator } from './validate.js';

export interface Processed {
  /** Items that passed validation, with mapped data, in input order. */
  readonly ok: Item[];
  /** Every failure of an item (validation reports all broken fields); the item counts once. */
  readonly failures: Map<string, LadingError[]>;
  readonly warnings: Map<string, LadingError[]>;
}

/**
 * validate → map for one chunk; an item failing either step is a failure, never dropped. Items a
 * worker thread prepared (engine/parallel.ts) went through these steps there and pass with
 * their outcome; unparsed items pass as they are, for the sink's threads to take through them.
 */
export function buildProcessor(config: Pick<PipelineConfig, 'validate' | 'map'>): (items: readonly Item[]) => Processed {
  const validate = config.validate ? buildValidator(config.validate) : undefined;
  const map = config.map ? buildMapper(config.map) : undefined;
  return (items) => {
    const ok: Item[] = [];
    const failures = new Map<string, LadingError[]>();
    const warnings = new Map<string, LadingError[]>();
    for (const item of items) {
      if (item.unparsed) {
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
      if (item.error) {
        failures.set(item.id, [item.error]);
        continue;
      }
      const ref = itemRef(item);
      if (validate) {
        const result = validate(item.data, ref);
        if (result.warnings.length > 0) warnings.set(item.id, result.warnings);
        if (result.failures.length > 0) {
          failures.set(item.id, result.failures);
          continue;
        }
      }
      if (!map) {
        ok.push(item);
        continue;
      }
      try {
        const data: Row = map(item.data, ref);
        ok.push({ ...item, data });
      } catch (error) {
        failures.set(item.id, [classify(error, { ioCode: 'MAP_TRANSFORM_FAILED', doing: `mapping ${ref.describe}`, itemId: item.id })]);
      }
    }
    return { ok, failures, warnings };
  };
}
