/**
 * Wire translations between the faces and upstreams routecore speaks: OpenAI chat completions (the
 * canonical form), OpenAI Responses and Anthropic Messages. Pure functions and stream writers; the
 * gateway routes and the Anthropic upstream attempt use them.
 * @module
 */
export * from './common.js';
export * from './responses.js';
export * from './anthropic.js';
