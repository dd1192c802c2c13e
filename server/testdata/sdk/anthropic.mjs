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

// Tools, images, structured output, as real applications send them.
const tools = [{ name: 'get_weather', description: 'Current weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];

// toolTurns runs a two-turn tool conversation: the model uses
// get_weather, the caller sends the tool_result, the model answers.
async function toolTurns(model, streamed) {
  const msgs = [{ role: 'user', content: 'Weather in Paris?' }];
  const first = streamed
    ? await client.messages.stream({ model, max_tokens: 256, messages: msgs, tools }).finalMessage()
    : await client.messages.create({ model, max_tokens: 256, messages: msgs, tools, tool_choice: { type: 'auto' } });
  const use = first.content.find((b) => b.type === 'tool_use');
  msgs.push({ role: 'assistant', content: first.content });
  msgs.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18°C, clear' }] });
  const second = await client.messages.create({ model, max_tokens: 256, messages: msgs, tools });
  return {
    uses: first.content.filter((b) => b.type === 'tool_use').length, name: use.name, city: use.input.city,
    idOk: /^[a-zA-Z0-9_-]+$/.test(use.id), stop1: first.stop_reason,
    answer: second.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), stop2: second.stop_reason,
  };
}

async function image(model) {
  const m = await client.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: [
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
    { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
    { type: 'text', text: 'What is in this image?' }] }] });
  return { text: m.content[0].text, stop: m.stop_reason };
}

async function structured(model) {
  const m = await client.messages.create({ model, max_tokens: 64,
    messages: [{ role: 'user', content: 'Paris weather as JSON' }],
    output_config: { format: { type: 'json_schema', schema: {
      type: 'object', properties: { temp_c: { type: 'number' } }, required: ['temp_c'], additionalProperties: false } } } });
  return { temp: JSON.parse(m.content[0].text).temp_c, stop: m.stop_reason };
}

out.tools = await toolTurns('claude-3-5-sonnet-20241022', false);
out.toolsStream = await toolTurns('claude-3-5-sonnet-20241022', true);
out.translatedTools = await toolTurns('openai/gpt-4o-mini', false);
out.translatedToolsStream = await toolTurns('openai/gpt-4o-mini', true);
out.image = await image('claude-3-5-sonnet-20241022');
out.translatedImage = await image('openai/gpt-4o-mini');
out.structured = await structured('claude-sonnet-4-5');
out.translatedStructured = await structured('openai/gpt-4o-mini');
out.refusedField = await failure(() => client.messages.create(
  { model: 'openai/gpt-4o-mini', max_tokens: 64, top_k: 5, messages }));

console.log(JSON.stringify(out));
