"""Settings: `base` holds the platform settings (profile from PLATFORM_PROFILE); `test` adapts them for pytest."""
