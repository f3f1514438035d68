import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Field, Input, SecretInput, Stack, Switch } from '@grafana/ui';
import { type ChangeEvent, useEffect, useId, useRef, useState } from 'react';

import type { ProvisiondOptions, ProvisiondSecureOptions } from '../types';

/** Props Grafana passes to the datasource settings editor. */
export type ConfigEditorProps = DataSourcePluginOptionsEditorProps<ProvisiondOptions, ProvisiondSecureOptions>;

/** The backend's timeout when timeoutSeconds is absent (datasource/pkg: DefaultTimeout). */
export const DEFAULT_TIMEOUT_SECONDS = 30;

/**
 * Says what is wrong with an API URL, or undefined when it is an absolute http(s) URL with a
 * host. A path is allowed (a reverse proxy's prefix); the API's own /api/v1 is added by the backend.
 */
export function validateApiUrl(url: string | undefined): string | undefined {
  const value = (url ?? '').trim();
  if (value === '') {
    return 'The API URL is required, e.g. http://provisiond:8080.';
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    return 'The API URL must start with http:// or https://, e.g. http://provisiond:8080.';
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return 'The API URL must be an absolute URL such as http://provisiond:8080.';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `The API URL must start with http:// or https://, not ${parsed.protocol}//.`;
  }
  if (parsed.hostname === '') {
    return 'The API URL needs a host.';
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    return 'The API URL must not have a query or fragment.';
  }
  return undefined;
}

/** Says what is wrong with a timeout field's text, or undefined when empty or a positive number. */
export function validateTimeout(raw: string): string | undefined {
  if (raw.trim() === '') {
    return undefined;
  }
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? undefined : 'The timeout must be a positive number of seconds.';
}

/**
 * The datasource settings: API URL, API token (write-only: stored encrypted by Grafana and
 * never shown again, only "configured"), TLS verification and request timeout.
 */
export function ConfigEditor({ options, onOptionsChange, validation }: ConfigEditorProps) {
  const id = useId();
  const { jsonData, secureJsonFields } = options;
  // A saved URL is checked at once; a new, empty one only after the field is left.
  const [urlTouched, setUrlTouched] = useState(!!jsonData.apiUrl);
  const [timeoutText, setTimeoutText] = useState(
    jsonData.timeoutSeconds !== undefined ? String(jsonData.timeoutSeconds) : ''
  );

  const urlError = validateApiUrl(jsonData.apiUrl);
  const timeoutError = validateTimeout(timeoutText);

  // Block saving while the URL or timeout is invalid (Grafana calls the validator on save).
  const valid = useRef(true);
  valid.current = urlError === undefined && timeoutError === undefined;
  useEffect(() => {
    if (!validation) {
      return undefined;
    }
    return validation.registerValidation(() => {
      setUrlTouched(true);
      return valid.current;
    });
  }, [validation]);

  const setJsonData = (patch: Partial<ProvisiondOptions>) => {
    const next: ProvisiondOptions = { ...jsonData, ...patch };
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) {
        delete (next as unknown as Record<string, unknown>)[key];
      }
    }
    onOptionsChange({ ...options, jsonData: next });
  };

  const onTokenChange = (e: ChangeEvent<HTMLInputElement>) => {
    onOptionsChange({ ...options, secureJsonData: { apiToken: e.currentTarget.value } });
  };

  const onTokenReset = () => {
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secureJsonFields, apiToken: false },
      secureJsonData: { apiToken: '' },
    });
  };

  const onTimeoutChange = (e: ChangeEvent<HTMLInputElement>) => {
    const raw = e.currentTarget.value;
    setTimeoutText(raw);
    if (validateTimeout(raw) === undefined) {
      setJsonData({ timeoutSeconds: raw.trim() === '' ? undefined : Number(raw) });
    }
  };

  return (
    <Stack direction="column" gap={1}>
      <Field
        label="API URL"
        description="Base URL of the provisiond API, reachable from the Grafana server (not the browser)."
        required
        invalid={urlTouched && urlError !== undefined}
        error={urlTouched ? urlError : undefined}
        htmlFor={`${id}-url`}
      >
        <Input
          id={`${id}-url`}
          width={50}
          placeholder="http://provisiond:8080"
          value={jsonData.apiUrl ?? ''}
          onChange={(e) => setJsonData({ apiUrl: e.currentTarget.value })}
          onBlur={() => setUrlTouched(true)}
        />
      </Field>
      <Field
        label="API token"
        description="A provisiond reader token (PROVISIOND_READER_TOKEN). Stored encrypted; never shown again."
        htmlFor={`${id}-token`}
      >
        <SecretInput
          id={`${id}-token`}
          width={50}
          placeholder="Reader token"
          isConfigured={secureJsonFields?.apiToken === true}
          onChange={onTokenChange}
          onReset={onTokenReset}
        />
      </Field>
      <Field
        label="Skip TLS certificate verification"
        description="Accept any certificate from an https API. For test setups only."
        htmlFor={`${id}-tls`}
      >
        <Switch
          id={`${id}-tls`}
          value={jsonData.tlsSkipVerify ?? false}
          onChange={(e) => setJsonData({ tlsSkipVerify: e.currentTarget.checked || undefined })}
        />
      </Field>
      <Field
        label="Timeout (seconds)"
        description={`How long one API request may take. Default ${DEFAULT_TIMEOUT_SECONDS}.`}
        invalid={timeoutError !== undefined}
        error={timeoutError}
        htmlFor={`${id}-timeout`}
      >
        <Input
          id={`${id}-timeout`}
          type="number"
          min={1}
          width={12}
          placeholder={String(DEFAULT_TIMEOUT_SECONDS)}
          value={timeoutText}
          onChange={onTimeoutChange}
        />
      </Field>
    </Stack>
  );
}
