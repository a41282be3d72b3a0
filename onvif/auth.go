package onvif

// Authentication schemes reported by AuthUsed.
const (
	AuthUsernameToken = "WS-UsernameToken"
	AuthHTTPDigest    = "HTTP digest"
)

// AuthUsed names the authentication schemes the client has been sending:
// AuthUsernameToken whenever it has credentials, plus AuthHTTPDigest once the
// camera has asked for digest. Empty without credentials. After a successful
// call it tells an installer what the camera accepted.
func (c *Client) AuthUsed() []string {
	if c.username == "" {
		return nil
	}
	c.mu.Lock()
	digest := c.digest != nil
	c.mu.Unlock()
	if digest {
		return []string{AuthUsernameToken, AuthHTTPDigest}
	}
	return []string{AuthUsernameToken}
}
