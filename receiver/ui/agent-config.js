// spanforge web UI: the "Agent config" view (#/agent-config), central configuration per service and
// environment, as Kibana's "APM agent configuration" page is for APM Server. It lists the entries of
// /api/agent-config (settings, ETag, whether an agent has applied them), and its form PUTs one entry's
// settings (an empty value leaves a key unset; nothing set removes the entry). Agents see a change at their
// next poll of /config/v1/agents. app.js routes to it and passes its DOM helpers; text reaches the page
// through text nodes only.
'use strict';

window.spanforgeAgentConfigView = async function agentConfigView(h) {
  const { el, api, rerender } = h;
  const data = await api('agent-config');
  const keys = data.keys;
  const status = el('p', { id: 'ac-status', class: 'muted', role: 'status' });

  async function send(method, query, body) {
    const res = await fetch(`/api/agent-config${query ? `?${query}` : ''}`, {
      method,
      headers: body ? { 'Content-Type': 'application/json', Accept: 'application/json' } : { Accept: 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(json.error || `${res.status}`);
    return json;
  }

  // The form: service, environment, one input per key the agents accept at run time.
  const service = el('input', { id: 'ac-service', name: 'service', placeholder: 'all services', autocomplete: 'off' });
  const environment = el('input', { id: 'ac-environment', name: 'environment', placeholder: 'all environments', autocomplete: 'off' });
  const inputs = {};
  const form = el('form', {
    id: 'ac-form',
    class: 'search',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const settings = {};
      for (const k of keys) {
        const v = inputs[k].value.trim();
        if (v) settings[k] = v;
      }
      try {
        await send('PUT', '', { service: service.value.trim(), environment: environment.value.trim(), settings });
        rerender(Object.keys(settings).length ? 'Saved. Agents apply it at their next poll.' : 'Nothing set: the entry was removed.');
      } catch (err) {
        status.className = 'error';
        status.textContent = `Not saved: ${err.message}`;
      }
    },
  });
  form.appendChild(el('label', null, el('span', null, 'Service name'), service));
  form.appendChild(el('label', null, el('span', null, 'Environment'), environment));
  for (const k of keys) {
    inputs[k] = el('input', { id: `ac-${k}`, name: k, placeholder: 'not set', autocomplete: 'off' });
    form.appendChild(el('label', null, el('span', { class: 'mono' }, k), inputs[k]));
  }
  form.appendChild(el('div', { class: 'buttons' }, el('button', { type: 'submit', id: 'ac-save' }, 'Save')));
  const fill = (e) => {
    service.value = e.service;
    environment.value = e.environment;
    for (const k of keys) inputs[k].value = e.settings[k] ?? '';
    service.focus();
  };

  const rows = data.entries.map((e) =>
    el(
      'tr',
      { 'data-entry': `${e.service}/${e.environment}` },
      el('td', null, e.service || 'all'),
      el('td', null, e.environment || 'all'),
      el('td', { class: 'mono' }, Object.entries(e.settings).map(([k, v], i) => [i ? ', ' : '', `${k}=${v}`])),
      el('td', { class: 'mono' }, e.etag),
      el('td', { class: 'ac-applied' }, e.applied ? `applied ${new Date(e.applied).toLocaleTimeString()}` : 'not yet applied'),
      el(
        'td',
        null,
        el('button', { type: 'button', class: 'ac-edit', onclick: () => fill(e) }, 'Edit'),
        ' ',
        el('button', {
          type: 'button',
          class: 'ac-delete',
          onclick: async () => {
            try {
              await send('DELETE', new URLSearchParams({ service: e.service, environment: e.environment }).toString());
              rerender('Removed.');
            } catch (err) {
              status.className = 'error';
              status.textContent = `Not removed: ${err.message}`;
            }
          },
        }, 'Delete'),
      ),
    ),
  );
  if (h.message) status.textContent = h.message;
  return [
    el('h1', null, 'Agent configuration'),
    el('p', { class: 'muted' }, 'Settings the agents poll from /config/v1/agents and apply without a restart. The most specific entry wins: service and environment, then the service alone, the environment alone, then the entry for all. "Applied" means an agent has reported it holds the current settings (it polled with their ETag).'),
    el(
      'table',
      { id: 'ac-entries' },
      el('thead', null, el('tr', null, ['Service', 'Environment', 'Settings', 'ETag', 'Status', ''].map((t) => el('th', null, t)))),
      el('tbody', null, rows.length ? rows : el('tr', null, el('td', { colspan: '6', class: 'muted' }, 'No agent configuration yet.'))),
    ),
    el('h2', null, 'Set a configuration'),
    form,
    status,
  ];
};
