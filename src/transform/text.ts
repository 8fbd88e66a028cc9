/** Text a string rule or transform works on: strings as is; numbers, booleans and bigints via String(); undefined for anything else. */
export function toText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      return undefined;
  }
}
