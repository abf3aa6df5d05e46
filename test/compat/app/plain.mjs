// No tracing in the code: for OpenTelemetry preloaded by the runtime.
import express from 'express';
import Fastify from 'fastify';
import { httpGetJson, runTwoServices } from './app.mjs';

runTwoServices({ express, Fastify, get: httpGetJson }).then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
