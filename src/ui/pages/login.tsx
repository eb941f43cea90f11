import { CsrfField, Layout } from '../layout.js';

export type LoginNotice = 'session_ended' | 'form_not_done';

const NOTICES: Record<LoginNotice, string> = {
  session_ended: 'Your session has ended. Sign in again to go on.',
  form_not_done: 'Your session had ended, so the form you sent was not acted on. Sign in and send it again.',
};

/** `next`: the page to go on to after signing in (already checked to be one of these pages). */
export function LoginPage({ csrfToken, error, notice, next }: { csrfToken: string; error?: string; notice?: LoginNotice; next?: string }) {
  return (
    <Layout title="Sign in">
      <form method="post" action="/ui/login" class="card login">
        <h1>Sign in</h1>
        <p class="muted">With your account's API key (the one the API takes as a Bearer token).</p>
        {notice && !error && (
          <p class="flash" role="status">
            {NOTICES[notice]}
          </p>
        )}
        {error && (
          <p class="error" role="alert" id="login-error">
            {error}
          </p>
        )}
        <CsrfField token={csrfToken} />
        {next && <input type="hidden" name="next" value={next} />}
        <label for="api_key">API key</label>
        <input
          id="api_key"
          name="api_key"
          type="password"
          autocomplete="current-password"
          required
          maxlength={256}
          autofocus
          {...(error ? { 'aria-invalid': 'true', 'aria-describedby': 'login-error' } : {})}
        />
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
