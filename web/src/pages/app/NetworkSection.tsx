// The app's network: its egress policy (editors change it) and its recent requests through the proxy, with why any was blocked.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api } from '../../api/endpoints';
import { ApiError, errorMessage } from '../../api/client';
import type { App, EgressDecision, EgressPolicy, Network } from '../../api/types';
import { useApi } from '../../hooks/useApi';
import { FormError, TextAreaField } from '../../components/Field';
import { Button } from '../../components/Button';
import { useToast } from '../../components/Toast';
import { formatAbsolute, formatRelative } from '../../lib/time';

const POLICIES: { value: EgressPolicy; label: string; hint: string }[] = [
  { value: 'none', label: 'No network', hint: 'Every request is refused.' },
  { value: 'allowlist', label: 'Allowlist', hint: 'Only the domains listed, where they resolve to public addresses.' },
  { value: 'public', label: 'Public internet', hint: 'Any public address; never private, local or cloud metadata ones.' },
];

/** Splits the domains box into entries: one per line (commas work too). */
export function parseDomains(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((d) => d.trim())
    .filter(Boolean);
}

/** One decision as a line people read: "blocked: 169.254.169.254, cloud metadata endpoint". */
export function describeDecision(d: EgressDecision): string {
  const verdict = { allowed: 'allowed', denied: 'blocked', limited: 'limited', failed: 'failed' }[d.verdict];
  const target = d.address && d.address !== d.host ? `${d.host} (${d.address})` : d.host;
  return `${verdict}: ${target}, ${d.reason}`;
}

export function NetworkSection({ app, editor, onSaved }: { app: App; editor: boolean; onSaved: (a: App) => void }) {
  const [policy, setPolicy] = useState<EgressPolicy>(app.network.policy);
  const [domains, setDomains] = useState((app.network.domains ?? []).join('\n'));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const { data: decisions } = useApi<EgressDecision[]>(`egress:${app.id}`, () => api.egress(app.project_id, app.id), 5000);

  // Reset only when another app is shown; polling must not overwrite edits.
  const appRef = useRef(app);
  appRef.current = app;
  useEffect(() => {
    const { network } = appRef.current;
    setPolicy(network.policy);
    setDomains((network.domains ?? []).join('\n'));
    setError(null);
  }, [app.id]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const list = policy === 'allowlist' ? parseDomains(domains) : [];
    if (policy === 'allowlist' && list.length === 0) {
      setError('An allowlist needs at least one domain, such as api.example.com.');
      return;
    }
    setBusy(true);
    try {
      const saved = await api.updateApp(app.project_id, app.id, { network: { policy, domains: list } });
      setPolicy(saved.network.policy);
      setDomains((saved.network.domains ?? []).join('\n'));
      onSaved(saved);
      toast.success('Network saved');
    } catch (err) {
      setError(err instanceof ApiError ? err.message : errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const current = POLICIES.find((p) => p.value === app.network.policy);
  const enforced = app.network_enforced;
  const describe = (n: Network) =>
    `${POLICIES.find((p) => p.value === n.policy)?.label ?? n.policy}${n.policy === 'allowlist' ? ` (${(n.domains ?? []).join(', ')})` : ''}`;
  return (
    <section className="panel" aria-labelledby="network-heading">
      <div className="panel-header">
        <h2 className="panel-title" id="network-heading">
          Network
        </h2>
      </div>
      {enforced && (
        <div className="callout callout-warning" role="status">
          <p>
            This instance now allows less than was chosen: the app gets <strong>{describe(enforced)}</strong>.
          </p>
        </div>
      )}
      {editor ? (
        <form className="stack" onSubmit={submit} noValidate aria-label="Network policy">
          <FormError>{error}</FormError>
          <fieldset className="field">
            <legend className="field-label">What the app may reach</legend>
            {POLICIES.map((p) => (
              <label key={p.value} className="radio-row">
                <input type="radio" name="egress-policy" value={p.value} checked={policy === p.value} onChange={() => setPolicy(p.value)} />
                <span>
                  <strong>{p.label}</strong> <span className="muted small">{p.hint}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {policy === 'allowlist' && (
            <TextAreaField
              label="Allowed domains"
              hint="One per line: api.example.com, or *.example.org for any name under example.org."
              value={domains}
              onChange={(e) => setDomains(e.target.value)}
              rows={3}
              spellCheck={false}
            />
          )}
          <div className="row-end">
            <Button type="submit" variant="primary" loading={busy}>
              Save network
            </Button>
          </div>
        </form>
      ) : (
        <p className="muted small">
          {current?.label}
          {app.network.policy === 'allowlist' ? `: ${(app.network.domains ?? []).join(', ')}` : ''}
        </p>
      )}
      <h3 className="subheading">Recent requests</h3>
      {!decisions || decisions.length === 0 ? (
        <p className="muted small">None yet. Requests the app makes through Burrow's proxy show here, with the reason any was blocked.</p>
      ) : (
        <ul className="egress-list" aria-label="Recent network requests">
          {decisions.slice(0, 20).map((d, i) => (
            <li key={`${d.at}-${i}`} className={d.verdict === 'allowed' ? '' : 'egress-blocked'}>
              <span className="egress-line">{describeDecision(d)}</span>
              <span className="muted small" title={formatAbsolute(d.at)}>
                {d.method} port {d.port} · {formatRelative(d.at)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
