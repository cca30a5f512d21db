import { describe, expect, it } from 'vitest';
import { hostAllowed, originAllowed } from '../../src/edge/browser-checks.js';

describe('originAllowed (NOTIFIER_ALLOWED_ORIGINS)', () => {
  it('allows a request without Origin (not a browser)', () => {
    expect(originAllowed('', 'edge.example.com', ['https://app.example.com'])).toBe(true);
    expect(originAllowed('', 'edge.example.com', undefined)).toBe(true);
  });

  it('unset: same origin only (the live page served by this edge)', () => {
    expect(originAllowed('http://127.0.0.1:8080', '127.0.0.1:8080', undefined)).toBe(true);
    expect(originAllowed('http://LOCALHOST:8080', 'localhost:8080', undefined)).toBe(true);
    expect(originAllowed('https://edge.example.com', 'edge.example.com:443', undefined)).toBe(true);
    expect(originAllowed('http://[::1]:8080', '[::1]:8080', undefined)).toBe(true);
    expect(originAllowed('http://127.0.0.1:8081', '127.0.0.1:8080', undefined)).toBe(false);
    expect(originAllowed('https://evil.example', 'edge.example.com', undefined)).toBe(false);
    expect(originAllowed('http://127.0.0.1:8080', '', undefined)).toBe(false);
  });

  it('listed origins exactly, `*` any; same origin stays allowed', () => {
    const list = ['https://app.example.com'];
    expect(originAllowed('https://app.example.com', 'edge.example.com', list)).toBe(true);
    expect(originAllowed('https://app.example.com:8443', 'edge.example.com', list)).toBe(false);
    expect(originAllowed('http://app.example.com', 'edge.example.com', list)).toBe(false);
    expect(originAllowed('https://evil.example', 'edge.example.com', list)).toBe(false);
    expect(originAllowed('https://edge.example.com', 'edge.example.com', list)).toBe(true);
    expect(originAllowed('https://evil.example', 'edge.example.com', ['*'])).toBe(true);
  });

  it('refuses `null` and non-HTTP origins unless `*`', () => {
    expect(originAllowed('null', 'edge.example.com', undefined)).toBe(false);
    expect(originAllowed('file://', 'edge.example.com', undefined)).toBe(false);
    expect(originAllowed('null', 'edge.example.com', ['*'])).toBe(true);
  });
});

describe('hostAllowed (NOTIFIER_ALLOWED_HOSTS)', () => {
  const loopback = ['localhost', '127.0.0.1', '[::1]'];
  it('takes the name without its port, case-insensitively', () => {
    expect(hostAllowed('localhost:8080', loopback)).toBe(true);
    expect(hostAllowed('LocalHost', loopback)).toBe(true);
    expect(hostAllowed('127.0.0.1:1', loopback)).toBe(true);
    expect(hostAllowed('[::1]:8080', loopback)).toBe(true);
  });
  it('refuses another name (DNS rebinding), a look-alike and no Host', () => {
    expect(hostAllowed('attacker.example:8080', loopback)).toBe(false);
    expect(hostAllowed('localhost.attacker.example', loopback)).toBe(false);
    expect(hostAllowed('127.0.0.2', loopback)).toBe(false);
    expect(hostAllowed('', loopback)).toBe(false);
    expect(hostAllowed('[::1', loopback)).toBe(false);
  });
});
