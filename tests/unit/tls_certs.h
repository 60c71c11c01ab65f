/* Test certificates for tests/unit/test_tls.c (EC P-256, valid until
 * 2126): a CA, a server certificate for localhost/127.0.0.1 and a client
 * certificate signed by it, and an unrelated CA. Made with openssl. */
#ifndef ED_TESTS_TLS_CERTS_H
#define ED_TESTS_TLS_CERTS_H

static const char CA_PEM[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBejCCASGgAwIBAgIUM33mfOqDWAkx/wqKo07KwGXV50owCgYIKoZIzj0EAwIw\n"
                             "EjEQMA4GA1UEAwwHVW5pdCBDQTAgFw0yNjEyMDcwNDIyMjhaGA8yMTI2MTExMzA0\n"
                             "MjIyOFowEjEQMA4GA1UEAwwHVW5pdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
                             "A0IABKPESP12llMeVM+BvyxPIHZGQqBYmVUuk2Arc+W4gesDslIc0wx1VGt1xdka\n"
                             "sgZlxEBVzKUrpcoePUZYTbfJcsejUzBRMB0GA1UdDgQWBBQz6HrOEodh4+IiweUp\n"
                             "JgbRgcfvuTAfBgNVHSMEGDAWgBQz6HrOEodh4+IiweUpJgbRgcfvuTAPBgNVHRMB\n"
                             "Af8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIGTtjekxWnCW3sFWmCyJAwDsebKi\n"
                             "OFHOcTHYDBA32FRsAiBCcjgl/mGlQmBVAD3OAvoAtsH+kilKh8I6qMX6be0QLA==\n"
                             "-----END CERTIFICATE-----\n";

static const char OTHER_CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBfTCCASOgAwIBAgIUCIw9h484YRkGiLwHL1rv2wSAJRIwCgYIKoZIzj0EAwIw\n"
    "EzERMA8GA1UEAwwIT3RoZXIgQ0EwIBcNMjYxMjA3MDQyMjI4WhgPMjEyNjExMTMw\n"
    "NDIyMjhaMBMxETAPBgNVBAMMCE90aGVyIENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAE24Bt3iRebNJLVxGQabLSHHYMKiks/QgUMNh+2lNs+N7zbKZBhPmHmtPM\n"
    "vmBQsdHU5O25XHJWqtXfMuS/bPpEGaNTMFEwHQYDVR0OBBYEFFMzQ8meEwRGbxx8\n"
    "Iq0Gp5DHsZlNMB8GA1UdIwQYMBaAFFMzQ8meEwRGbxx8Iq0Gp5DHsZlNMA8GA1Ud\n"
    "EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIhAKe0eqIdLJHzFh59S23diFND\n"
    "vjPHDrdZvYFRVOmdZFOgAiAxbscJ6dVfjCtgBjH6NS7IXxIbi63R2rc7JMu7paTL\n"
    "Cw==\n"
    "-----END CERTIFICATE-----\n";

static const char SERVER_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBiDCCAS6gAwIBAgIUZuZBL95ftpLOhvsZi8KFeWF9/RgwCgYIKoZIzj0EAwIw\n"
    "EjEQMA4GA1UEAwwHVW5pdCBDQTAgFw0yNjEyMDcwNDIyMjhaGA8yMTI2MTExMzA0\n"
    "MjIyOFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D\n"
    "AQcDQgAEBh2z03aBchptqMlHxfU9r31m6KusI8ygtkEmvrOKogNE60SfRYSLrdev\n"
    "X7gg2RYzHQeZBhapA9qw8W698dPhE6NeMFwwGgYDVR0RBBMwEYIJbG9jYWxob3N0\n"
    "hwR/AAABMB0GA1UdDgQWBBQ86zMC5tZm7wV3Yhh7ggnjcTCPajAfBgNVHSMEGDAW\n"
    "gBQz6HrOEodh4+IiweUpJgbRgcfvuTAKBggqhkjOPQQDAgNIADBFAiEAl4tO3gj3\n"
    "hNew6COc9dRRB/51Q53zT+xgbMIOcecc3BYCIAvWQF/Rtt39qc4ld4MPaSzuuyWj\n"
    "e/emrxlIqSdxcTNG\n"
    "-----END CERTIFICATE-----\n";

static const char SERVER_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIqkLxDl4qvSLQyzs\n"
    "TLwhSWMeLILd0uZMV0SWyZpNXhqhRANCAAQGHbPTdoFyGm2oyUfF9T2vfWboq6wj\n"
    "zKC2QSa+s4qiA0TrRJ9FhIut169fuCDZFjMdB5kGFqkD2rDxbr3x0+ET\n"
    "-----END PRIVATE KEY-----\n";

static const char CLIENT_CRT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBHzCBxgIUZuZBL95ftpLOhvsZi8KFeWF9/RkwCgYIKoZIzj0EAwIwEjEQMA4G\n"
    "A1UEAwwHVW5pdCBDQTAgFw0yNjEyMDcwNDIyMjhaGA8yMTI2MTExMzA0MjIyOFow\n"
    "ETEPMA0GA1UEAwwGY2xpZW50MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBB5d\n"
    "GFQJ8JiHo3xLv/wQOr7sK3knDVz9afK/8x68GbmpLsBRoYDP7J7oH1dCkR0m0Q8e\n"
    "P7iwiS5OuWxtGTlGuTAKBggqhkjOPQQDAgNIADBFAiEA2YGIIMvmBL9yHxDd2BZT\n"
    "6SxhSjQffT0wTks6z1uO5iUCIH8zYTWKWGkzJi8qRa6013iwBB/nrV9OY50o1Fpz\n"
    "rpaV\n"
    "-----END CERTIFICATE-----\n";

static const char CLIENT_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGJCeYMIGWQpt4slH\n"
    "d4G/VpwgrvYbUVp71x79Vmq5Q7ChRANCAAQEHl0YVAnwmIejfEu//BA6vuwreScN\n"
    "XP1p8r/zHrwZuakuwFGhgM/snugfV0KRHSbRDx4/uLCJLk65bG0ZOUa5\n"
    "-----END PRIVATE KEY-----\n";

#endif
