import type { DataSourceSettings } from '@grafana/data';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';

import { PLUGIN_ID } from '../test/grafana';
import type { ProvisiondOptions, ProvisiondSecureOptions } from '../types';
import { ConfigEditor, type ConfigEditorProps, validateApiUrl, validateTimeout } from './ConfigEditor';

type Settings = DataSourceSettings<ProvisiondOptions, ProvisiondSecureOptions>;

const SECRET = 'reader-s3cret-token';

function settings(overrides: Partial<Settings> = {}): Settings {
  return {
    id: 1,
    uid: 'provisiond-uid',
    orgId: 1,
    name: 'provisiond',
    typeLogoUrl: '',
    type: PLUGIN_ID,
    typeName: 'provisiond',
    access: 'proxy',
    url: '',
    user: '',
    database: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    jsonData: { apiUrl: 'http://provisiond:8080' },
    secureJsonFields: {},
    readOnly: false,
    withCredentials: false,
    ...overrides,
  };
}

/** Renders the editor the way Grafana does: it keeps the settings and passes every change back. */
function renderEditor(initial: Settings, extra: Partial<ConfigEditorProps> = {}) {
  const changes: Settings[] = [];
  function Harness() {
    const [options, setOptions] = useState(initial);
    return (
      <ConfigEditor
        {...extra}
        options={options}
        onOptionsChange={(next) => {
          changes.push(next);
          setOptions(next);
        }}
      />
    );
  }
  const view = render(<Harness />);
  return { ...view, changes, last: () => changes[changes.length - 1] };
}

describe('ConfigEditor', () => {
  it('edits the API URL and validates it when the field is left', async () => {
    const { last } = renderEditor(settings({ jsonData: { apiUrl: '' } }));
    const url = screen.getByLabelText(/API URL/);
    await userEvent.type(url, 'ftp://x');
    expect(last().jsonData.apiUrl).toBe('ftp://x');
    expect(screen.queryByText(/must start with http/)).not.toBeInTheDocument(); // not before blur
    await userEvent.tab();
    expect(screen.getByText('The API URL must start with http:// or https://, not ftp://.')).toBeInTheDocument();

    await userEvent.clear(url);
    await userEvent.type(url, 'https://prov.example:8443/');
    expect(last().jsonData.apiUrl).toBe('https://prov.example:8443/');
    expect(screen.queryByText(/The API URL/)).not.toBeInTheDocument();
  });

  it('blocks saving with an invalid URL through the validation API', async () => {
    let validator: (() => boolean | Promise<boolean>) | undefined;
    const validation = {
      registerValidation: vi.fn((fn: () => boolean | Promise<boolean>) => {
        validator = fn;
        return () => (validator = undefined);
      }),
      validate: vi.fn(),
    };
    const { unmount } = renderEditor(settings({ jsonData: { apiUrl: 'http://' } }), {
      validation: validation as unknown as ConfigEditorProps['validation'],
    });
    expect(validator).toBeDefined();
    let ok: boolean | undefined;
    await vi.waitFor(async () => {
      ok = await validator!();
    });
    expect(ok).toBe(false);
    expect(await screen.findByText(/must be an absolute URL/)).toBeInTheDocument();
    unmount();
    expect(validator).toBeUndefined();
  });

  it('never renders a configured token and shows it as configured', () => {
    const { container } = renderEditor(
      settings({
        secureJsonFields: { apiToken: true },
        // Grafana never sends the value back; even if it were here it must not reach the page.
        secureJsonData: { apiToken: SECRET },
      })
    );
    const token = screen.getByLabelText(/API token/) as HTMLInputElement;
    expect(token).toHaveValue('configured');
    expect(token).toBeDisabled();
    expect(container.innerHTML).not.toContain(SECRET);
    expect(document.body.innerHTML).not.toContain(SECRET);
    expect(screen.getByRole('button', { name: 'Reset' })).toBeInTheDocument();
  });

  it('sends a new token only in secureJsonData', async () => {
    const { last, container } = renderEditor(settings());
    const token = screen.getByLabelText(/API token/) as HTMLInputElement;
    expect(token).toHaveAttribute('type', 'password');
    await userEvent.type(token, SECRET);

    const saved = last();
    expect(saved.secureJsonData).toEqual({ apiToken: SECRET });
    const { secureJsonData: _, ...rest } = saved;
    expect(JSON.stringify(rest)).not.toContain(SECRET);
    expect(container.innerHTML).not.toContain(SECRET); // the value is a DOM property, not markup
  });

  it('resets a configured token', async () => {
    const { last } = renderEditor(settings({ secureJsonFields: { apiToken: true } }));
    await userEvent.click(screen.getByRole('button', { name: 'Reset' }));
    expect(last().secureJsonFields.apiToken).toBe(false);
    expect(last().secureJsonData).toEqual({ apiToken: '' });
    const token = screen.getByLabelText(/API token/) as HTMLInputElement;
    expect(token).toBeEnabled();
    expect(token).toHaveValue('');
  });

  it('sets TLS skip verify and the timeout in jsonData', async () => {
    const { last } = renderEditor(settings());
    await userEvent.click(screen.getByLabelText(/Skip TLS certificate verification/));
    expect(last().jsonData).toEqual({ apiUrl: 'http://provisiond:8080', tlsSkipVerify: true });
    await userEvent.click(screen.getByLabelText(/Skip TLS certificate verification/));
    expect(last().jsonData).toEqual({ apiUrl: 'http://provisiond:8080' });

    const timeout = screen.getByLabelText(/Timeout/);
    await userEvent.type(timeout, '45');
    expect(last().jsonData.timeoutSeconds).toBe(45);
    await userEvent.clear(timeout);
    expect(last().jsonData).not.toHaveProperty('timeoutSeconds');
    await userEvent.type(timeout, '-1');
    expect(screen.getByText('The timeout must be a positive number of seconds.')).toBeInTheDocument();
    expect(last().jsonData).not.toHaveProperty('timeoutSeconds');
  });

  it('shows saved settings', () => {
    renderEditor(settings({ jsonData: { apiUrl: 'https://p:1', tlsSkipVerify: true, timeoutSeconds: 12 } }));
    expect(screen.getByLabelText(/API URL/)).toHaveValue('https://p:1');
    expect(screen.getByLabelText(/Skip TLS certificate verification/)).toBeChecked();
    expect(screen.getByLabelText(/Timeout/)).toHaveValue(12);
    expect(screen.getByLabelText(/API token/)).toHaveValue('');
  });
});

describe('validateApiUrl', () => {
  it.each<[string | undefined, string | undefined]>([
    ['http://provisiond:8080', undefined],
    ['https://prov.example.com', undefined],
    ['http://127.0.0.1:8080/', undefined],
    ['https://proxy.example/provisiond', undefined],
    [' http://provisiond:8080 ', undefined],
    [undefined, 'The API URL is required, e.g. http://provisiond:8080.'],
    ['', 'The API URL is required, e.g. http://provisiond:8080.'],
    ['provisiond:8080', 'The API URL must start with http:// or https://, e.g. http://provisiond:8080.'],
    ['localhost', 'The API URL must start with http:// or https://, e.g. http://provisiond:8080.'],
    ['ftp://files', 'The API URL must start with http:// or https://, not ftp://.'],
    ['http://', 'The API URL must be an absolute URL such as http://provisiond:8080.'],
    ['http://p:8080/?x=1', 'The API URL must not have a query or fragment.'],
    ['http://p:8080/#top', 'The API URL must not have a query or fragment.'],
  ])('%s', (url, want) => {
    expect(validateApiUrl(url)).toBe(want);
  });
});

describe('validateTimeout', () => {
  it.each<[string, boolean]>([
    ['', true],
    ['30', true],
    ['0.5', true],
    ['0', false],
    ['-3', false],
    ['abc', false],
  ])('%s', (raw, ok) => {
    expect(validateTimeout(raw) === undefined).toBe(ok);
  });
});
