/**
 * dependency-cruiser rules for src/: the architecture checks that `npm test` runs (through
 * scripts/check-deps.mjs, also `npm run check:deps`). On Node ≥ 22 `npx depcruise src` reads this
 * file too. Type-only imports count: a circle of types is still a circle for whoever changes them.
 */
/** The faces built on the router: what routing/ must not know of. */
const FACES = ['chat', 'execution', 'serve', 'adapters', 'cli', 'app'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make modules impossible to load, test or change one at a time.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'routing-knows-no-faces',
      severity: 'error',
      comment:
        'src/routing/ (scoring, policies, batching, the encoder seam) serves every face, so it imports none of them: ' +
        'chat requests and telemetry live in src/app/ and src/chat/, upstream calls in src/execution/.',
      from: { path: '^src/routing/' },
      to: { path: `^src/(${FACES.join('|')})/` },
    },
  ],
  options: {
    // TypeScript 7.0's native compiler has no API dependency-cruiser can use; swc parses the .ts files.
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.node'] },
  },
};
