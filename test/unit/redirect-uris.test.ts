import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REDIRECT_URI_LENGTH, redirectTarget, redirectUriProblem } from '../../src/oauth/redirect-uris.js';

// The rules of a registrable redirect URI (RFC 8252 §7 for native apps, OAuth 2.1 for the rest): `expected`
// is the problem redirectUriProblem answers, undefined when the URI can be registered.

interface Case {
  name: string;
  input: unknown;
  expected: string | undefined;
}

const HTTPS_ONLY = 'must use https (plain http only on a loopback host: localhost, 127.0.0.1, [::1])';
const USERINFO = 'must not contain user information (a "user:password@" part): remove it';
const FRAGMENT = 'must not have a fragment';
const UNSAFE_CHARACTERS = 'must not contain spaces, backslashes, quotes or angle brackets';
const loopbackSpelling = (instead: string) =>
  `must name its loopback host as 127.0.0.1, [::1] or localhost (RFC 8252 §7.3): register ${JSON.stringify(instead)} instead`;

const accepted: Case[] = [
  { name: 'https with a path', input: 'https://app.example.com/cb', expected: undefined },
  { name: 'https with a port and a query', input: 'https://app.example.com:8443/cb?tenant=1', expected: undefined },
  { name: 'https on a private IP address written as usual', input: 'https://10.0.0.1/cb', expected: undefined },
  { name: 'https on localhost', input: 'https://localhost/cb', expected: undefined },
  { name: 'http on 127.0.0.1 without a port', input: 'http://127.0.0.1/cb', expected: undefined },
  { name: 'http on 127.0.0.1 with any port (RFC 8252 §7.3)', input: 'http://127.0.0.1:53123/cb', expected: undefined },
  { name: 'http on 127.0.0.1 with the default port written', input: 'http://127.0.0.1:80/cb', expected: undefined },
  { name: 'http on localhost with a port', input: 'http://localhost:8080/callback', expected: undefined },
  { name: 'http on [::1] with a port', input: 'http://[::1]:9000/cb', expected: undefined },
  { name: 'https on [::1]', input: 'https://[::1]/cb', expected: undefined },
  { name: 'a private-use scheme with an authority', input: 'cursor://anysphere.cursor-retrieval/oauth/callback', expected: undefined },
  { name: 'a reverse-domain private-use scheme (RFC 8252 §7.1)', input: 'com.example.app:/oauth2redirect', expected: undefined },
  { name: 'a private-use scheme with digits, +, - and .', input: 'x-y.z+1:/cb', expected: undefined },
  {
    name: 'a URI of exactly the maximum length',
    input: `https://a.example/${'x'.repeat(MAX_REDIRECT_URI_LENGTH - 18)}`,
    expected: undefined,
  },
];

const refused: Case[] = [
  { name: 'an empty string', input: '', expected: 'must be a non-empty string' },
  { name: 'a number', input: 42, expected: 'must be a non-empty string' },
  { name: 'null', input: null, expected: 'must be a non-empty string' },
  { name: 'undefined', input: undefined, expected: 'must be a non-empty string' },
  {
    name: 'one character over the maximum length',
    input: `https://a.example/${'x'.repeat(MAX_REDIRECT_URI_LENGTH - 17)}`,
    expected: 'must be at most 2048 characters',
  },
  { name: 'a fragment', input: 'https://app.example.com/cb#state', expected: FRAGMENT },
  { name: 'an empty fragment', input: 'https://app.example.com/cb#', expected: FRAGMENT },
  { name: 'a fragment on a loopback URI', input: 'http://127.0.0.1:5000/cb#x', expected: FRAGMENT },
  { name: 'a space', input: 'https://app.example.com/c b', expected: UNSAFE_CHARACTERS },
  { name: 'a tab', input: 'https://app.example.com/cb\t', expected: UNSAFE_CHARACTERS },
  { name: 'a backslash', input: 'https://app.example.com/c\\b', expected: UNSAFE_CHARACTERS },
  { name: 'double quotes', input: 'https://app.example.com/"cb"', expected: UNSAFE_CHARACTERS },
  { name: 'angle brackets', input: 'https://app.example.com/<cb>', expected: UNSAFE_CHARACTERS },
  { name: 'a relative path', input: '/relative/cb', expected: 'must be an absolute URL' },
  { name: 'a host without a scheme', input: 'app.example.com/cb', expected: 'must be an absolute URL' },
  { name: 'javascript:', input: 'javascript:alert(1)', expected: 'must not use the javascript: scheme' },
  { name: 'JAVASCRIPT: in capitals', input: 'JAVASCRIPT:alert(1)', expected: 'must not use the javascript: scheme' },
  { name: 'data:', input: 'data:text/html,hi', expected: 'must not use the data: scheme' },
  { name: 'file:', input: 'file:///etc/passwd', expected: 'must not use the file: scheme' },
  { name: 'ws: even on loopback', input: 'ws://localhost/cb', expected: 'must not use the ws: scheme' },
  { name: 'mailto:', input: 'mailto:a@b.example', expected: 'must not use the mailto: scheme' },
  { name: 'about:', input: 'about:blank', expected: 'must not use the about: scheme' },
  { name: 'plain http on a public host', input: 'http://example.com/cb', expected: HTTPS_ONLY },
  { name: 'plain http on another 127/8 address', input: 'http://127.0.0.2/cb', expected: HTTPS_ONLY },
  { name: 'plain http on localhost. (trailing dot)', input: 'http://localhost.:80/cb', expected: HTTPS_ONLY },
  { name: 'plain http on an IPv4-mapped loopback address', input: 'http://[::ffff:127.0.0.1]/cb', expected: HTTPS_ONLY },
  { name: 'a user name', input: 'https://user@app.example.com/cb', expected: USERINFO },
  { name: 'a user name and password', input: 'https://user:pw@app.example.com/cb', expected: USERINFO },
  { name: 'an empty userinfo (dropped by the URL parser)', input: 'https://@app.example.com/cb', expected: USERINFO },
  { name: 'userinfo in a private-use scheme', input: 'custom://user@host/cb', expected: USERINFO },
  { name: 'https without // (one slash)', input: 'https:/app.example.com/cb', expected: 'must be written https://host/path' },
  { name: 'https without // (no slash)', input: 'https:app.example.com/cb', expected: 'must be written https://host/path' },
  { name: 'loopback as 127.1', input: 'http://127.1/cb', expected: loopbackSpelling('http://127.0.0.1/cb') },
  { name: 'loopback in hexadecimal', input: 'http://0x7f.0.0.1/cb', expected: loopbackSpelling('http://127.0.0.1/cb') },
  { name: 'loopback as one decimal number', input: 'http://2130706433/cb', expected: loopbackSpelling('http://127.0.0.1/cb') },
  { name: 'loopback IPv6 written in full', input: 'http://[0:0:0:0:0:0:0:1]/cb', expected: loopbackSpelling('http://[::1]/cb') },
  {
    name: 'LOCALHOST in capitals (matching is exact)',
    input: 'http://LOCALHOST:8080/cb',
    expected: loopbackSpelling('http://localhost:8080/cb'),
  },
  {
    name: 'an IPv4 address with a leading zero (octal to the URL parser)',
    input: 'https://010.0.0.1/cb',
    expected: 'must write its IP address in the usual form: register "https://8.0.0.1/cb" instead',
  },
];

describe('redirect URI rules: accepted', () => {
  for (const { name, input, expected } of accepted) {
    it(name, () => assert.equal(redirectUriProblem(input), expected));
  }
});

describe('redirect URI rules: refused', () => {
  for (const { name, input, expected } of refused) {
    it(name, () => assert.equal(redirectUriProblem(input), expected));
  }
});

describe('redirect target (consent page)', () => {
  const cases: { name: string; input: string; expected: ReturnType<typeof redirectTarget> }[] = [
    {
      name: 'https: the host with its port, the origin as CSP source',
      input: 'https://app.example.com:8443/cb?x=1',
      expected: { display: 'app.example.com:8443', cspSource: 'https://app.example.com:8443' },
    },
    {
      name: 'loopback http: the port is part of the origin',
      input: 'http://127.0.0.1:5000/cb',
      expected: { display: '127.0.0.1:5000', cspSource: 'http://127.0.0.1:5000' },
    },
    {
      name: 'a private-use scheme: the scheme alone as CSP source',
      input: 'cursor://anysphere.cursor-retrieval/cb',
      expected: { display: 'cursor://anysphere.cursor-retrieval', cspSource: 'cursor:' },
    },
  ];
  for (const { name, input, expected } of cases) {
    it(name, () => assert.deepEqual(redirectTarget(input), expected));
  }
});
