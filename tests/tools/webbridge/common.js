// common.js - code shared by the test meeting pages (guest.html, bridge.html)
// that webbridge.py serves: logging, TURN credentials, the signalling
// WebSocket, and reading the selected candidate pair and audio from getStats().
'use strict';

const Q = new URLSearchParams(location.search);
const T0 = performance.now();
const ms = () => Math.round(performance.now() - T0);

// window.__stage says what the page is doing; the driver prints it when no
// result came in time.
window.__stage = 'loading';
window.__result = null;

function log(...a) {
  const s = `[${ms()} ms] ${a.join(' ')}`;
  const el = document.getElementById('log');
  if (el) el.textContent += s + '\n';
  console.log(s);
}

function setStage(s) {
  window.__stage = s;
  log('stage: ' + s);
}

// GET /api/turn: {username, credential, urls, ttl}; throws with the server's answer.
async function getTurn(role, name) {
  const r = await fetch(`/api/turn?role=${role}&name=${encodeURIComponent(name)}`, { cache: 'no-store' });
  if (!r.ok) throw new Error(`GET /api/turn: ${r.status} ${(await r.text()).trim()}`);
  return r.json();
}

// POST /api/result: best effort, the driver reads window.__result anyway.
async function report(role, room, guest, result) {
  try {
    await fetch(`/api/result?role=${role}&room=${encodeURIComponent(room)}` + (guest ? `&guest=${guest}` : ''),
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(result) });
  } catch (e) {
    log('POST /api/result: ' + e);
  }
}

// The signalling WebSocket (ws: or wss: as the page, same host), with JSON
// messages handed to onmsg one at a time, in order (onmsg may be async).
// sig.ready resolves on the server's hello (its message is the value) and
// rejects if the socket closes first. With reconnect, a closed socket is
// opened again a second later (the bridge's page). sig.state is 'connecting',
// 'open' or 'closed (code N)'.
function signalling(room, role, onmsg, reconnect) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const url = `${proto}//${location.host}/ws?room=${encodeURIComponent(room)}&role=${role}`;
  const sig = { state: 'connecting', ws: null, chain: Promise.resolve(), closing: false };
  let readyOk, readyFail;
  sig.ready = new Promise((res, rej) => { readyOk = res; readyFail = rej; });
  sig.send = o => {
    if (sig.ws && sig.ws.readyState === WebSocket.OPEN) sig.ws.send(JSON.stringify(o));
    else log(`signalling: not sent (socket ${sig.state}): ${o.type}`);
  };
  sig.close = () => { sig.closing = true; if (sig.ws) sig.ws.close(); };
  const open = () => {
    const ws = sig.ws = new WebSocket(url);
    sig.state = 'connecting';
    ws.onmessage = e => {
      let m;
      try { m = JSON.parse(e.data); } catch (err) { log('signalling: not JSON: ' + e.data); return; }
      if (m.type === 'hello') { sig.state = 'open'; readyOk(m); }
      sig.chain = sig.chain.then(() => onmsg(m)).catch(err => log(`signalling: ${m.type}: ${err}`));
    };
    ws.onclose = e => {
      sig.state = `closed (code ${e.code})`;
      log(`signalling: socket ${url} closed, code ${e.code} ${e.reason || ''}`);
      readyFail(new Error(`the signalling WebSocket ${url} closed (code ${e.code}) before the server's hello`));
      if (reconnect && !sig.closing) setTimeout(open, 1000);
    };
  };
  open();
  return sig;
}

const hostport = c => c.address === undefined ? null
  : (String(c.address).includes(':') ? `[${c.address}]:${c.port}` : `${c.address}:${c.port}`);

// The selected candidate pair: the transport's selectedCandidatePairId, else
// a nominated succeeded pair. null when there is none (yet).
async function selectedPair(pc) {
  const st = await pc.getStats();
  let pair = null;
  st.forEach(s => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = st.get(s.selectedCandidatePairId); });
  if (!pair) st.forEach(s => { if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
  if (!pair) return null;
  const l = st.get(pair.localCandidateId) || {}, r = st.get(pair.remoteCandidateId) || {};
  return {
    local: l.candidateType, remote: r.candidateType, localRelayProto: l.relayProtocol || null,
    localAddr: hostport(l), remoteAddr: hostport(r), localProtocol: l.protocol, remoteProtocol: r.protocol,
    localUrl: l.url || null, bytesSent: pair.bytesSent, bytesReceived: pair.bytesReceived,
    rtt_ms: pair.currentRoundTripTime === undefined ? null : Math.round(pair.currentRoundTripTime * 1000),
  };
}

// Audio RTP counters: {sent_bytes, received_bytes, sent_packets, received_packets}.
async function audioStats(pc) {
  const st = await pc.getStats();
  const a = { sent_bytes: 0, received_bytes: 0, sent_packets: 0, received_packets: 0 };
  st.forEach(s => {
    if (s.kind !== 'audio') return;
    if (s.type === 'outbound-rtp') { a.sent_bytes += s.bytesSent || 0; a.sent_packets += s.packetsSent || 0; }
    if (s.type === 'inbound-rtp') { a.received_bytes += s.bytesReceived || 0; a.received_packets += s.packetsReceived || 0; }
  });
  return a;
}

// Keeps up to 20 icecandidateerror events (TURN 401, unreachable server...).
function recordIceErrors(pc, into) {
  pc.addEventListener('icecandidateerror', e => {
    const x = { url: e.url, code: e.errorCode, text: e.errorText, address: e.address, port: e.port };
    log('icecandidateerror ' + JSON.stringify(x));
    if (into.length < 20) into.push(x);
  });
}

const candType = c => c.type || (/ typ (\w+)/.exec(c.candidate) || [])[1] || '?';
const sleep = t => new Promise(res => setTimeout(res, t));
