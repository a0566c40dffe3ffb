export * from './client.js';
export * from './docker-config.js';
export * from './target.js';
export * from './www-authenticate.js';
export * from './mirror.js';
