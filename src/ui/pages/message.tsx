import { Layout } from '../layout.js';

/** Errors and dead ends: a title, a sentence and a way back. */
export function MessagePage({ title, message, csrfToken }: { title: string; message: string; csrfToken?: string }) {
  return (
    <Layout title={title} csrfToken={csrfToken}>
      <div class="card">
        <h1>{title}</h1>
        <p>{message}</p>
        <p>
          <a href="/ui/contacts">Back to the contacts</a>
        </p>
      </div>
    </Layout>
  );
}
