// Vitest setup: jest-dom matchers, a stub EventSource and clipboard, and cleanup between tests.
import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

class StubEventSource {
  static instances: StubEventSource[] = [];
  url: string;
  readyState = 0;
  onopen: (() => void) | null = null;
  private listeners: Record<string, Array<(e: MessageEvent) => void>> = {};
  constructor(url: string) {
    this.url = url;
    StubEventSource.instances.push(this);
  }
  addEventListener(type: string, fn: (e: MessageEvent) => void) {
    (this.listeners[type] ??= []).push(fn);
  }
  removeEventListener() {}
  emit(type: string, data: string) {
    for (const fn of this.listeners[type] ?? []) fn(new MessageEvent(type, { data }));
  }
  close() {
    this.readyState = 2;
  }
}
vi.stubGlobal('EventSource', StubEventSource);

afterEach(() => {
  cleanup();
  StubEventSource.instances = [];
  window.localStorage.clear();
  document.getElementById('root')?.removeAttribute('aria-hidden');
});
