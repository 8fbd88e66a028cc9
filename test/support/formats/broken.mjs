// A format whose encoder fails on the third record with a plain Error: a bug in a format, not a
// bad record. Plain JavaScript, so a parse worker thread (which cannot load TypeScript) can import it.
let seen = 0;
export const broken = {
  type: 'broken',
  encoder: () => ({
    encode: () => {
      seen += 1;
      if (seen === 3) throw new Error('the encoder broke on its third record');
      return new Uint8Array([0x78, 0x0a]);
    },
  }),
};
