// Many nodes, one service: two real server processes on one PostgreSQL and one Redis. Clients on
// node A receive every kind of event caused by requests to node B (and by a socket on node B);
// presence (rulings.md 8) is counted across nodes; a node killed with SIGKILL has its users
// turned offline, and announced so, within PRESENCE_TTL_SECONDS.
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { ISO_DATE, nextEvent, OBJECT_ID, record, settle, type TestUser } from './helpers/app.js';
import { startNode, type NodeProcess } from './helpers/node-process.js';

const TTL = 3;

describe.skipIf(process.env.TEST_DB !== 'postgres')('two nodes on one PostgreSQL and one Redis', { timeout: 60_000 }, () => {
  let a: NodeProcess;
  let b: NodeProcess;
  let alice: TestUser, bob: TestUser, carol: TestUser, dave: TestUser, erin: TestUser;
  let aliceA1: Socket, aliceA2: Socket, bobA: Socket, carolA: Socket, daveA: Socket;
  let chatId: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    env = {
      DATABASE_URL: inject('databaseUrl'),
      // A Redis database of its own: only these two nodes share presence and the socket stream
      // (a node of another test could otherwise be the one that reaps node B).
      REDIS_URL: `${inject('redisUrl')}/3`,
      PRESENCE_TTL_SECONDS: String(TTL),
    };
    const started = await Promise.allSettled([startNode(env), startNode(env)]);
    if (started[0].status === 'fulfilled') a = started[0].value;
    if (started[1].status === 'fulfilled') b = started[1].value;
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;

    [alice, bob, carol, dave, erin] = await Promise.all([b.user(), b.user(), a.user(), b.user(), a.user()]);
    for (const other of [bob, carol, dave, erin]) {
      expect((await b.request('POST', `/users/${other.id}/follow`, alice)).status).toBe(200);
    }
    [aliceA1, aliceA2, bobA, carolA, daveA] = await Promise.all([
      a.socket(alice), a.socket(alice), a.socket(bob), a.socket(carol), a.socket(dave),
    ]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  /** Resolves with the event on each socket; `never` collects what must not arrive. */
  function expectEvent(sockets: Socket[], event: string, never: Socket[] = []) {
    const got = Promise.all(sockets.map((s) => nextEvent(s, event, 5000)));
    const unwanted = never.map((s) => record(s, event));
    return {
      got,
      async nothingElse() {
        await settle(300);
        for (const seen of unwanted) expect(seen).toEqual([]);
      },
    };
  }

  it('chat-created: the participants on A get the chat document of POST /chats on B, the requesting socket not', async () => {
    const wait = expectEvent([bobA, carolA, aliceA2], 'chat-created', [aliceA1]);
    const res = await b.request('POST', '/chats', alice, {
      isGroup: true,
      name: 'Scale-out',
      category: 'Study',
      participants: [bob.id, carol.id],
      socket: aliceA1.id,
    });
    expect(res.status).toBe(201);
    chatId = res.body.chat._id;
    expect(chatId).toMatch(OBJECT_ID);
    for (const payload of await wait.got) expect(payload).toEqual({ chat: res.body.chat });
    await wait.nothingElse();
  });

  it('chat-updated: PUT /chats/:id (multipart) on B reaches the participants on A', async () => {
    const wait = expectEvent([bobA, carolA, aliceA2], 'chat-updated', [aliceA1]);
    const form = new FormData();
    form.set('name', 'Scale-out renamed');
    form.set('socket', aliceA1.id!);
    const res = await fetch(`${b.url}/chats/${chatId}`, { method: 'PUT', headers: alice.auth, body: form });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.chat.name).toBe('Scale-out renamed');
    for (const payload of await wait.got) expect(payload).toEqual({ chat: body.chat });
    await wait.nothingElse();
  });

  it('message-created, message-updated, message-deleted', async () => {
    const created = expectEvent([aliceA1, carolA], 'message-created', [bobA]);
    const sent = await b.request('POST', `/chats/${chatId}/messages`, bob, { text: 'hello from B', socket: bobA.id });
    expect(sent.status).toBe(201);
    const message = sent.body.message;
    for (const payload of await created.got) expect(payload).toEqual({ message });
    await created.nothingElse();

    const updated = expectEvent([aliceA1, carolA], 'message-updated');
    const edit = await b.request('PUT', `/chats/${chatId}/messages/${message._id}`, bob, { text: 'edited on B' });
    expect(edit.status).toBe(200);
    for (const payload of await updated.got) expect(payload).toEqual({ message: edit.body.message });
    expect(edit.body.message.editedAt).toMatch(ISO_DATE);

    const deleted = expectEvent([aliceA1, carolA, bobA], 'message-deleted');
    expect((await b.request('DELETE', `/chats/${chatId}/messages/${message._id}`, bob)).status).toBe(200);
    for (const payload of await deleted.got) expect(payload).toEqual({ chat: chatId, message: message._id });
  });

  it("chat-read: the reader's other socket on A, not the requesting one", async () => {
    const wait = expectEvent([aliceA2], 'chat-read', [aliceA1, bobA]);
    const res = await b.request('POST', `/chats/${chatId}/read`, alice, { socket: aliceA1.id });
    expect(res.status).toBe(200);
    const [payload] = await wait.got;
    expect(payload).toEqual({ chat: chatId, lastReadAt: expect.stringMatching(ISO_DATE) });
    await wait.nothingElse();
  });

  it('chat-joined and score-updated to the joining user, chat-updated to the others', async () => {
    const joined = expectEvent([daveA], 'chat-joined');
    const score = expectEvent([daveA], 'score-updated');
    const updated = expectEvent([aliceA1, bobA], 'chat-updated');
    const res = await b.request('POST', `/chats/${chatId}/participants`, dave);
    expect(res.status).toBe(201);
    const [{ chat }] = await joined.got;
    expect(chat._id).toBe(chatId);
    expect(chat.participants.map((p: { user: string }) => p.user)).toContain(dave.id);
    expect((await score.got)[0]).toEqual({ score: expect.any(Number), action: 'join-group-chat', points: 5 });
    for (const payload of await updated.got) expect(payload).toEqual({ chat });
  });

  it('chat-admin-access-granted and chat-admin-access-removed', async () => {
    const granted = expectEvent([bobA], 'chat-admin-access-granted');
    const grant = await b.request('POST', `/chats/${chatId}/participants/${bob.id}/admin`, alice);
    expect(grant.status).toBe(200);
    expect((await granted.got)[0]).toEqual({ chat: chatId, participant: grant.body.participant });

    const removed = expectEvent([bobA], 'chat-admin-access-removed');
    const revoke = await b.request('DELETE', `/chats/${chatId}/participants/${bob.id}/admin`, alice);
    expect(revoke.status).toBe(200);
    expect((await removed.got)[0]).toEqual({ chat: chatId, participant: revoke.body.participant });
  });

  it('chat-participant-removed to all, chat-access-removed to the removed user', async () => {
    const removedAll = expectEvent([carolA, bobA, daveA], 'chat-participant-removed');
    const access = expectEvent([carolA], 'chat-access-removed', [bobA]);
    const res = await b.request('DELETE', `/chats/${chatId}/participants/${carol.id}`, alice);
    expect(res.status).toBe(200);
    const payloads = await removedAll.got;
    for (const payload of payloads) {
      expect(payload).toEqual({ chat: chatId, participant: expect.objectContaining({ _id: expect.stringMatching(OBJECT_ID), user: carol.id }) });
    }
    expect((await access.got)[0]).toEqual({ chat: chatId });
    await access.nothingElse();
  });

  it('typing: from a socket on node B to the peers on node A', async () => {
    const bobB = await b.socket(bob);
    const wait = expectEvent([aliceA1, daveA], 'typing', [bobA]);
    bobB.emit('typing', { chat: chatId });
    for (const payload of await wait.got) expect(payload).toEqual({ chat: chatId, user: bob.id });
    await wait.nothingElse();
    bobB.disconnect();
  });

  it('chat-request-created to the admins, chat-request-updated to the requester', async () => {
    const chat = await b.request('POST', '/chats', alice, {
      isGroup: true, name: 'Restricted', category: 'Music', participants: [bob.id], restricted: true,
    });
    expect(chat.status).toBe(201);
    const restrictedId = chat.body.chat._id;

    const created = expectEvent([aliceA1, aliceA2], 'chat-request-created', [bobA]);
    const req = await b.request('POST', `/chats/${restrictedId}/requests`, carol);
    expect(req.status).toBe(201);
    for (const payload of await created.got) expect(payload).toEqual({ chat: restrictedId, request: req.body.request });
    await created.nothingElse();

    const updated = expectEvent([carolA], 'chat-request-updated');
    const decided = await b.request('POST', `/chats/${restrictedId}/requests/${req.body.request._id}/status`, alice, {
      status: 'accepted',
    });
    expect(decided.status).toBe(200);
    expect((await updated.got)[0]).toEqual({ chat: restrictedId, request: decided.body.request });
  });

  it('participant-status-updated: an event chat admin accepts a pending participant', async () => {
    const now = Date.now();
    const created = await b.request('POST', '/events', alice, {
      name: 'Scale-out party',
      startsAt: new Date(now + 3600_000).toISOString(),
      endsAt: new Date(now + 7200_000).toISOString(),
    });
    expect(created.status).toBe(201);
    const eventChat = created.body.chat._id;
    const join = await b.request('POST', `/chats/${eventChat}/participants`, dave);
    expect(join.status).toBe(201);
    expect(join.body.participant.status).toBe('pending');

    const wait = expectEvent([daveA], 'participant-status-updated');
    const res = await b.request('POST', `/chats/${eventChat}/participants/${dave.id}/status`, alice, { status: 'accepted' });
    expect(res.status).toBe(200);
    expect((await wait.got)[0]).toEqual({ chat: eventChat, participant: res.body.participant });
  });

  it('presence: online on both nodes, announced across nodes', async () => {
    // erin shares the chat; she connects to node B only, alice and bob are on node A only.
    expect((await b.request('POST', `/chats/${chatId}/participants/multiple`, alice, { participants: [erin.id] })).status).toBe(200);
    const online = expectEvent([aliceA1, bobA], 'presence');
    await b.socket(erin);
    for (const payload of await online.got) expect(payload).toEqual({ user: erin.id, isOnline: true });

    const isOnline = async (node: NodeProcess, viewer: TestUser) => {
      const res = await node.request('GET', `/chats/${chatId}`, viewer);
      expect(res.status).toBe(200);
      return Object.fromEntries(
        res.body.chat.participants.map((p: { user: { _id: string; isOnline: boolean } }) => [p.user._id, p.user.isOnline]),
      );
    };
    for (const node of [a, b]) {
      expect(await isOnline(node, alice)).toMatchObject({ [alice.id]: true, [bob.id]: true, [erin.id]: true });
    }
    const list = await b.request('GET', '/chats?limit=100', alice);
    const listed = list.body.chats.find((c: { _id: string }) => c._id === chatId);
    expect(listed.participants.find((p: { user: { _id: string } }) => p.user._id === bob.id).user.isOnline).toBe(true);
  });

  it('chat-deleted: DELETE /chats/:id on B reaches the participants on A', async () => {
    const chat = await b.request('POST', '/chats', alice, {
      isGroup: true, name: 'To delete', category: 'Gaming', participants: [bob.id, dave.id],
    });
    const id = chat.body.chat._id;
    const wait = expectEvent([bobA, daveA, aliceA2], 'chat-deleted', [aliceA1]);
    const res = await b.request('DELETE', `/chats/${id}`, alice, { socket: aliceA1.id });
    expect(res.status).toBe(200);
    for (const payload of await wait.got) expect(payload).toEqual({ chat: id });
    await wait.nothingElse();
  });

  it('a node drained by SIGTERM: its clients reconnect to another node and recover what they missed', { timeout: 240_000 }, async () => {
    const c = await startNode(env);
    try {
      const onC = await c.socket(bob);
      const first = nextEvent(onC, 'message-created');
      expect((await b.request('POST', `/chats/${chatId}/messages`, alice, { text: 'before the drain' })).status).toBe(201);
      await first;
      const session = onC as unknown as { _pid: string; _lastOffset: string; id: string };
      const { _pid: pid, _lastOffset: offset, id } = session;

      const dropped = new Promise<string>((resolve) => onC.once('disconnect', (reason) => resolve(reason)));
      c.child.kill('SIGTERM');
      // A transport close: socket.io-client reconnects by itself (here: through the balancer).
      expect(await dropped).toBe('transport close');
      expect(await c.exited).toEqual({ code: 0, signal: null });

      const missed = await b.request('POST', `/chats/${chatId}/messages`, alice, { text: 'while away' });
      expect(missed.status).toBe(201);

      const again = connect(a.url, { auth: { token: bob.token }, transports: ['websocket'], reconnection: false, forceNew: true, autoConnect: false });
      Object.assign(again, { _pid: pid, _lastOffset: offset });
      const received = record(again, 'message-created');
      again.connect();
      await new Promise<void>((resolve, reject) => {
        again.once('connect', () => resolve());
        again.once('connect_error', reject);
      });
      await settle(300);
      expect(again.recovered).toBe(true);
      expect(again.id).toBe(id);
      expect(received).toEqual([{ message: missed.body.message }]);
      again.disconnect();
    } finally {
      await c.stop();
    }
  });

  it('a node killed with SIGKILL: its users go offline, and are announced so, within the TTL', async () => {
    // erin is connected to node B only (previous test). Node B dies without any clean-up.
    const offline = expectEvent([aliceA1, bobA], 'presence');
    const killed = Date.now();
    b.child.kill('SIGKILL');
    expect((await b.exited).signal).toBe('SIGKILL');
    const payloads = await Promise.race([
      offline.got,
      settle(TTL * 1000 + 2000).then(() => null),
    ]);
    expect(payloads).not.toBeNull();
    for (const payload of payloads!) expect(payload).toEqual({ user: erin.id, isOnline: false });
    // PRESENCE_TTL_SECONDS, plus a little for the event's trip and a busy machine.
    expect(Date.now() - killed).toBeLessThan(TTL * 1000 + 1000);

    const res = await a.request('GET', `/chats/${chatId}`, alice);
    const erinThere = res.body.chat.participants.find((p: { user: { _id: string } }) => p.user._id === erin.id);
    expect(erinThere.user.isOnline).toBe(false);
    const aliceThere = res.body.chat.participants.find((p: { user: { _id: string } }) => p.user._id === alice.id);
    expect(aliceThere.user.isOnline).toBe(true);
  });
});
