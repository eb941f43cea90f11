import { describe, expect, it } from 'vitest';
import { sign, verifySignature } from '../../src/http/signature.js';

// The test vector published with the Standard Webhooks specification.
const vector = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: '1614265330',
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const bytes = (text: string) => new TextEncoder().encode(text);
const at = Number(vector.timestamp);

describe('Standard Webhooks signatures', () => {
  it('signs the published test vector to the published signature', () => {
    expect(`v1,${sign(vector.secret, vector.id, vector.timestamp, bytes(vector.body))}`).toBe(vector.signature);
  });

  it('accepts the published test vector', () => {
    expect(verifySignature([vector.secret], { id: vector.id, timestamp: vector.timestamp, signature: vector.signature }, bytes(vector.body), at)).toEqual({ ok: true });
  });

  const headers = { id: vector.id, timestamp: vector.timestamp, signature: vector.signature };
  it.each([
    ['a tampered body', [vector.secret], headers, '{"test": 2432232315}', at],
    ['a wrong secret', ['whsec_' + Buffer.from('another secret of 24 b').toString('base64')], headers, vector.body, at],
    ['a missing signature header', [vector.secret], { ...headers, signature: undefined }, vector.body, at],
    ['a missing id', [vector.secret], { ...headers, id: undefined }, vector.body, at],
    ['a tampered id', [vector.secret], { ...headers, id: 'msg_other' }, vector.body, at],
    ['a stale timestamp (over 5 minutes old)', [vector.secret], headers, vector.body, at + 301],
    ['a future timestamp (over 5 minutes ahead)', [vector.secret], headers, vector.body, at - 301],
    ['a timestamp that is not a number', [vector.secret], { ...headers, timestamp: '16142653x0' }, vector.body, at],
    ['a signature of the wrong length', [vector.secret], { ...headers, signature: vector.signature.slice(0, -8) + '=' }, vector.body, at],
    ['a signature without the v1 prefix', [vector.secret], { ...headers, signature: vector.signature.slice(3) }, vector.body, at],
    ['no secrets at all', [], headers, vector.body, at],
  ])('refuses %s', (_name, secrets, h, body, now) => {
    expect(verifySignature(secrets, h, bytes(body), now).ok).toBe(false);
  });

  it('accepts within 5 minutes either way', () => {
    expect(verifySignature([vector.secret], headers, bytes(vector.body), at + 299).ok).toBe(true);
    expect(verifySignature([vector.secret], headers, bytes(vector.body), at - 299).ok).toBe(true);
  });

  it('accepts any of several signatures in one header, and any of several secrets (rotation)', () => {
    const old = 'whsec_' + Buffer.from('the old secret, 24 bytes').toString('base64');
    const several = { ...headers, signature: `v1,AAAA v1,${Buffer.alloc(32).toString('base64')} ${vector.signature}` };
    expect(verifySignature([old, vector.secret], several, bytes(vector.body), at).ok).toBe(true);
    const signedWithOld = `v1,${sign(old, vector.id, vector.timestamp, bytes(vector.body))}`;
    expect(verifySignature([vector.secret, old], { ...headers, signature: signedWithOld }, bytes(vector.body), at).ok).toBe(true);
  });
});
