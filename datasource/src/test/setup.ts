/**
 * Vitest set-up for every test file: jest-dom matchers, cleanup between tests, and shims for
 * the browser features jsdom lacks but @grafana/ui uses (the same gaps Grafana's own
 * create-plugin jest set-up fills).
 */
import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());

// jsdom has no matchMedia; @grafana/ui's theme and responsive components query it.
Object.defineProperty(window, 'matchMedia', {
  writable: true,
  value: (query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => {},
    removeListener: () => {},
    addEventListener: () => {},
    removeEventListener: () => {},
    dispatchEvent: () => false,
  }),
});

// jsdom has no canvas; @grafana/ui measures text with a 2D context to size menus.
HTMLCanvasElement.prototype.getContext = function getContext() {
  return {
    font: '',
    measureText: (text: string) => ({ width: text.length * 7 }),
  } as unknown as CanvasRenderingContext2D;
} as unknown as typeof HTMLCanvasElement.prototype.getContext;

// jsdom has no layout observers; @grafana/ui's scroll indicators and virtualised lists use them.
class NoopObserver {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
  takeRecords(): [] {
    return [];
  }
}
Object.assign(globalThis, { IntersectionObserver: NoopObserver, ResizeObserver: NoopObserver });

// jsdom lays nothing out, so every element measures 0×0 and @grafana/ui's virtualised option
// lists (Combobox) would render no rows. Give elements a fixed viewport-like size.
Object.defineProperties(HTMLElement.prototype, {
  clientHeight: { configurable: true, get: () => 600 },
  clientWidth: { configurable: true, get: () => 800 },
});

// Option lists load after a debounce (Combobox: 200 ms); allow for a loaded CI machine.
configure({ asyncUtilTimeout: 5000 });
