// Packages the benchmark uses that ship no type declarations.
declare module 'autocannon';
declare module 'ws';
