import { CsrfField, Layout } from '../layout.js';

export function LoginPage({ csrfToken, error }: { csrfToken: string; error?: string }) {
  return (
    <Layout title="Sign in">
      <form method="post" action="/ui/login" class="card login">
        <h1>Sign in</h1>
        <p class="muted">With your account's API key (the one the API takes as a Bearer token).</p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <CsrfField token={csrfToken} />
        <label for="api_key">API key</label>
        <input id="api_key" name="api_key" type="password" autocomplete="current-password" required maxlength={256} autofocus />
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
