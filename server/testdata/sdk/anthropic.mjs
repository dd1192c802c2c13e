// Runs the official @anthropic-ai/sdk package, unmodified, against
// conductor serve. Prints one JSON object with what each case saw;
// server/sdk_test.go checks it.
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.CONDUCTOR_URL;
const apiKey = process.env.CONDUCTOR_TOKEN;
const client = new Anthropic({ baseURL: base, apiKey, maxRetries: 0 });
const messages = [{ role: 'user', content: 'Hi' }];
const out = {};

async function message(c, model) {
  const m = await c.messages.create({ model, max_tokens: 64, messages });
  return { id: m.id, text: m.content[0].text, stop: m.stop_reason, input: m.usage.input_tokens, output: m.usage.output_tokens };
}

async function stream(c, model) {
  let deltas = '';
  const s = c.messages.stream({ model, max_tokens: 64, messages });
  s.on('text', (t) => { deltas += t; });
  const m = await s.finalMessage();
  return { deltas, text: m.content[0].text, stop: m.stop_reason, output: m.usage.output_tokens };
}

async function failure(fn) {
  try {
    await fn();
    return { thrown: false };
  } catch (e) {
    return {
      thrown: true,
      name: e.constructor.name,
      rateLimit: e instanceof Anthropic.RateLimitError,
      badRequest: e instanceof Anthropic.BadRequestError,
      apiError: e instanceof Anthropic.APIError,
      status: e.status ?? null,
      message: String(e.message),
    };
  }
}

out.message = await message(client, 'claude-3-5-sonnet-20241022');
out.translated = await message(client, 'openai/gpt-4o');
out.stream = await stream(client, 'claude-3-5-sonnet-20241022');
out.translatedStream = await stream(client, 'openai/gpt-4o-mini');
out.error429 = await failure(() => client.messages.create(
  { model: 'claude-3-5-sonnet-20241022', max_tokens: 5, messages: [{ role: 'user', content: '__status_429__' }] },
  { headers: { 'cf-aig-max-attempts': '1' } }));
out.error400 = await failure(() => client.messages.create(
  { model: 'claude-3-5-sonnet-20241022', max_tokens: 5, messages: [{ role: 'user', content: '__status_400__' }] }));
out.streamError = await failure(() => client.messages.stream(
  { model: 'claude-3-5-sonnet-20241022', max_tokens: 5, messages: [{ role: 'user', content: '__stream_error__' }] }).finalMessage());

const cf = new Anthropic({ baseURL: `${base}/v1/acct0123/my-gateway/anthropic`, apiKey: 'sk-ant-provider', maxRetries: 0,
  defaultHeaders: { 'cf-aig-authorization': `Bearer ${apiKey}` } });
out.cloudflare = await message(cf, 'claude-3-5-sonnet-20241022');

console.log(JSON.stringify(out));
