// A real OpenID Connect provider for the portal's tests (panva/oidc-provider, certified by the OpenID Foundation).
// Configured from the environment:
//   OIDC_PORT      the loopback port to listen on (the issuer is http://127.0.0.1:<port>)
//   OIDC_CLIENTS   JSON list of clients: {client_id, client_secret, redirect_uris, id_token_ttl?}
//   OIDC_ACCOUNTS  JSON object: account id -> claims (sub, name, email, eduperson_assurance, eduperson_entitlement)
// The login page is the library's development interaction (any listed account id signs in; consent is given for
// the listed clients). Prints "ready <issuer>" once listening.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
const clientList = JSON.parse(process.env.OIDC_CLIENTS || '[]');
const ttls = Object.fromEntries(clientList.map((c) => [c.client_id, c.id_token_ttl || 600]));
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  eduperson_assurance: ['eduperson_assurance'],
  eduperson_entitlement: ['eduperson_entitlement'],
};
const SCOPES = Object.keys(CLAIMS);

const provider = new Provider(issuer, {
  clients: clientList.map(({ id_token_ttl: _ttl, ...c }) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...c,
  })),
  claims: CLAIMS,
  scopes: SCOPES,
  conformIdTokenClaims: false, // the claims travel in the ID token, as MyAccessID's do
  pkce: { required: () => false },
  ttl: {
    IdToken: (ctx, token, client) => ttls[client.clientId] || 600,
    AccessToken: 600,
    AuthorizationCode: 60,
    Session: 3600,
    Interaction: 600,
    Grant: 3600,
  },
  cookies: { keys: ['test-only-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    // The login page takes the account's subject (its stable, opaque sub) as the login name.
    const claims = Object.values(accounts).find((c) => c.sub === id) || accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { ...claims, sub: id }; } };
  },
  async loadExistingGrant(ctx) {
    // Consent is given for every listed client: the tests sign in without a consent page.
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(SCOPES.join(' '));
    grant.addOIDCClaims(Object.values(CLAIMS).flat());
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
const server = provider.listen(port, '127.0.0.1', () => { console.log(`ready ${issuer}`); });
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
