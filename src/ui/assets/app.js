// Entry point: sign-in, and the two pages (#/ overview, #/runs/{id} a run) switched by the URL hash.
import { api, session } from './api.js';
import { h } from './dom.js';
import { renderOverview } from './overview.js';
import { renderRun } from './run.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let page = null;

function signInMessage(error) {
  if (error.status === 401) return `That API key was refused (${error.code}): ${error.message}`;
  if (error.status === 403) return `That API key may not do this (${error.code}): ${error.message}`;
  if (error.status === 0) return 'The server cannot be reached; check that lading serve is running.';
  return `Sign-in failed (${error.code}): ${error.message}`;
}

function showSignIn(message) {
  nav.hidden = true;
  const input = h('input', { id: 'api-key', name: 'api-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'lading_…' });
  const note = h('div', { 'aria-live': 'assertive' }, message ? h('p', { class: 'error', role: 'alert' }, message) : null);
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'sign-in', on: { submit: async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (key === '') return;
    button.disabled = true;
    try {
      // Any valid key may list pipelines: this checks the key without needing a scope.
      await api('/v1/pipelines', { key });
      session.signIn(key);
      route();
    } catch (error) {
      note.replaceChildren(h('p', { class: 'error', role: 'alert' }, signInMessage(error)));
      button.disabled = false;
    }
  } } },
  h('h1', null, 'Sign in'),
  h('p', { class: 'muted' }, 'Paste an API key from `lading keys create`. It stays in this tab only (session storage) and is sent as a Bearer token.'),
  h('label', { for: 'api-key' }, 'API key'), input, button, note);
  main.replaceChildren(form);
  input.focus();
}

/** Shared by the pages: a refused key (401) signs out with the reason; true when the error was handled here. */
const app = {
  failed(error) {
    if (error?.name === 'AbortError') return true;
    if (error?.status !== 401) return false;
    session.signOut();
    page?.dispose();
    page = null;
    showSignIn(signInMessage(error));
    return true;
  },
};

function route() {
  page?.dispose();
  page = null;
  if (!session.key) return showSignIn();
  nav.hidden = false;
  const run = /^#\/runs\/(.+)$/.exec(location.hash);
  page = run ? renderRun(main, decodeURIComponent(run[1]), app) : renderOverview(main, app);
  window.scrollTo(0, 0);
}

document.getElementById('sign-out').addEventListener('click', () => {
  session.signOut();
  route();
});
window.addEventListener('hashchange', route);
route();
