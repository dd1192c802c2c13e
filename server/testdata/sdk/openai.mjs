// Runs the official openai package, unmodified, against conductor serve.
// Prints one JSON object with what each case saw; server/sdk_test.go
// checks it. CONDUCTOR_URL is the server, CONDUCTOR_TOKEN a gateway token.
import OpenAI from 'openai';

const base = process.env.CONDUCTOR_URL;
const apiKey = process.env.CONDUCTOR_TOKEN;
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0 });
const messages = [{ role: 'user', content: 'Hi' }];
const out = {};

async function chat(c, model, extra = {}) {
  const r = await c.chat.completions.create({ model, messages, ...extra });
  return { id: r.id, content: r.choices[0].message.content, finish: r.choices[0].finish_reason, total: r.usage?.total_tokens ?? null };
}

async function stream(c, model) {
  const s = await c.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of s) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage.total_tokens;
  }
  return { text, usage, finish };
}

async function failure(fn) {
  try {
    await fn();
    return { thrown: false };
  } catch (e) {
    return {
      thrown: true,
      name: e.constructor.name,
      rateLimit: e instanceof OpenAI.RateLimitError,
      badRequest: e instanceof OpenAI.BadRequestError,
      apiError: e instanceof OpenAI.APIError,
      status: e.status ?? null,
      message: String(e.message),
    };
  }
}

out.chat = await chat(client, 'openai/gpt-4o-mini');
out.translated = await chat(client, 'anthropic/claude-3-5-sonnet-20241022');
out.stream = await stream(client, 'openai/gpt-4o-mini');
out.translatedStream = await stream(client, 'anthropic/claude-3-5-sonnet-20241022');
out.error429 = await failure(() => client.chat.completions.create(
  { model: 'openai/gpt-4o', messages: [{ role: 'user', content: '__status_429__' }] },
  { headers: { 'cf-aig-max-attempts': '1' } }));
out.error400 = await failure(() => client.chat.completions.create(
  { model: 'openai/gpt-4o', messages: [{ role: 'user', content: '__status_400__' }] }));
out.streamError = await failure(async () => {
  const s = await client.chat.completions.create({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: '__stream_error__' }] });
  for await (const _ of s) { /* read until the error */ }
});
out.unauthorized = await failure(() => new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 0 })
  .chat.completions.create({ model: 'openai/gpt-4o-mini', messages }));

// Cloudflare AI Gateway's path: only the base URL changes.
const cf = new OpenAI({ baseURL: `${base}/v1/acct0123/my-gateway/openai`, apiKey: 'sk-provider-key', maxRetries: 0,
  defaultHeaders: { 'cf-aig-authorization': `Bearer ${apiKey}` } });
out.cloudflare = await chat(cf, 'gpt-4o-mini');

console.log(JSON.stringify(out));
