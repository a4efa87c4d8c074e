import { describe, expect, it } from 'vitest';
import { helloMessage } from './hello';

describe('helloMessage', () => {
  it('joins a game session by id and sends nothing else', () => {
    const q = new URLSearchParams('session=s-1&width=640&overlay=1');
    expect(helloMessage(q)).toEqual({ type: 'hello', version: 1, session_id: 's-1' });
  });

  it('types pipeline parameters and leaves out the page switches', () => {
    const q = new URLSearchParams('pipeline=test-pattern&width=1280&live=true&pattern=ball&overlay=1&user=p');
    expect(helloMessage(q)).toEqual({
      type: 'hello',
      version: 1,
      pipeline: 'test-pattern',
      params: { width: 1280, live: true, pattern: 'ball' },
    });
  });

  it('falls back to the default pipeline and skips empty values', () => {
    expect(helloMessage(new URLSearchParams('width='), 'test-pattern')).toEqual({
      type: 'hello',
      version: 1,
      pipeline: 'test-pattern',
    });
  });
});
