// The REST API as the dashboard uses it: every call carries the signed-in key as a Bearer token.

const storageKey = 'lading.apiKey';

export const session = {
  get key() {
    return sessionStorage.getItem(storageKey);
  },
  signIn(key) {
    sessionStorage.setItem(storageKey, key);
  },
  signOut() {
    sessionStorage.removeItem(storageKey);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(response) {
  let error;
  try {
    error = (await response.json()).error;
  } catch {
    // A body that is not the API's error JSON (a proxy's page): the status says enough.
  }
  return new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? response.statusText);
}

function headers(key, json) {
  const h = { authorization: `Bearer ${key ?? session.key ?? ''}`, accept: 'application/json' };
  if (json) h['content-type'] = 'application/json';
  return h;
}

/** JSON of a successful answer; ApiError otherwise (status 0: the server could not be reached). */
export async function api(path, { method = 'GET', body, key, signal } = {}) {
  let response;
  try {
    response = await fetch(path, { method, headers: headers(key, body !== undefined), body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'the server cannot be reached');
  }
  if (!response.ok) throw await failure(response);
  return response.json();
}

/**
 * Follows a Server-Sent Events endpoint with fetch (EventSource cannot send the Authorization
 * header): calls onEvent(type, data) per event; resolves when the server ends the stream.
 */
export async function follow(path, onEvent, signal) {
  const response = await fetch(path, { headers: { ...headers(), accept: 'text/event-stream' }, signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) onEvent(type, JSON.parse(data.join('\n')));
    }
  }
}
