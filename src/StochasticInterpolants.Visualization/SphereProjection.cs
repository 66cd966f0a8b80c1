namespace StochasticInterpolants.Visualization;

/// <summary>
/// The Hammer (Hammer–Aitoff) equal-area projection of the unit sphere S^2 onto the ellipse X^2 / 8 + Y^2 / 2 &lt;= 1
/// (docs/theory.md §15.9), in float64. A unit vector p = (x, y, z) has longitude lambda = atan2(y, x) in [-pi, pi] and
/// latitude phi = atan2(z, sqrt(x^2 + y^2)) in [-pi/2, pi/2]; with D = sqrt(1 + cos(phi) cos(lambda / 2)),
/// <code>
/// X = 2 sqrt(2) cos(phi) sin(lambda / 2) / D,      Y = sqrt(2) sin(phi) / D.
/// </code>
/// The map centre (0, 0) is (1, 0, 0); the north pole (0, 0, 1) is the top of the ellipse (0, sqrt 2), the south pole its
/// bottom, and the meridian lambda = ±pi (the half-plane y = 0, x &lt; 0) its left and right edges, the one seam of the map.
/// Area is kept exactly: dX dY = cos(phi) d lambda d phi, so the ellipse's area is 4 pi, the sphere's, and a density per
/// unit of sphere area is the same number per unit of map area.
/// </summary>
public static class HammerProjection
{
    private static readonly double Sqrt2 = Math.Sqrt(2);

    /// <summary>Half-width of the map, 2 sqrt 2 (the equator runs from X = -2 sqrt 2 to 2 sqrt 2).</summary>
    public static readonly double HalfWidth = 2 * Math.Sqrt(2);

    /// <summary>Half-height of the map, sqrt 2 (the poles are at Y = ±sqrt 2).</summary>
    public static readonly double HalfHeight = Math.Sqrt(2);

    /// <summary>The map point of longitude <paramref name="lambda"/> in [-pi, pi] and latitude <paramref name="phi"/> in [-pi/2, pi/2] (radians).</summary>
    public static (double X, double Y) FromLongitudeLatitude(double lambda, double phi)
    {
        var (sinPhi, cosPhi) = Math.SinCos(phi);
        var (sinHalf, cosHalf) = Math.SinCos(lambda / 2);
        var d = Math.Sqrt(1 + cosPhi * cosHalf);
        return (2 * Sqrt2 * cosPhi * sinHalf / d, Sqrt2 * sinPhi / d);
    }

    /// <summary>
    /// The map point of the direction (<paramref name="x"/>, <paramref name="y"/>, <paramref name="z"/>), which is
    /// normalised first (a zero or non-finite vector has no direction: both coordinates are NaN). At the poles the
    /// longitude is undefined and the image is the same whichever is taken.
    /// </summary>
    public static (double X, double Y) Forward(double x, double y, double z)
    {
        var norm = Math.Sqrt(x * x + y * y + z * z);
        if (!(norm > 0) || !double.IsFinite(norm)) return (double.NaN, double.NaN);
        x /= norm; y /= norm; z /= norm;
        // atan2 for the latitude, not asin(z): asin loses half the digits near the poles.
        return FromLongitudeLatitude(Math.Atan2(y, x), Math.Atan2(z, Math.Sqrt(x * x + y * y)));
    }

    /// <summary>True when (<paramref name="mapX"/>, <paramref name="mapY"/>) lies in the map, X^2 / 8 + Y^2 / 2 &lt;= 1.</summary>
    public static bool Contains(double mapX, double mapY) => mapX * mapX / 8 + mapY * mapY / 2 <= 1;

    /// <summary>
    /// The unit vector whose map point is (<paramref name="mapX"/>, <paramref name="mapY"/>), or null outside the ellipse.
    /// With w = sqrt(1 - (X/4)^2 - (Y/2)^2) (in [1/sqrt 2, 1] on the map): lambda = 2 atan2(w X, 2 (2 w^2 - 1)),
    /// phi = asin(w Y), and p = (cos phi cos lambda, cos phi sin lambda, sin phi); cos phi is taken as
    /// sqrt((1 - w Y)(1 + w Y)), which has no cancellation near the equator. On the boundary the longitude is ±pi.
    /// </summary>
    public static (double X, double Y, double Z)? Inverse(double mapX, double mapY)
    {
        if (!Contains(mapX, mapY)) return null;
        var w = Math.Sqrt(Math.Max(0, 1 - mapX * mapX / 16 - mapY * mapY / 4));
        var lambda = 2 * Math.Atan2(w * mapX, 2 * (2 * w * w - 1));
        var sinPhi = Math.Clamp(w * mapY, -1, 1);
        var cosPhi = Math.Sqrt((1 - sinPhi) * (1 + sinPhi));
        var (sinLambda, cosLambda) = Math.SinCos(lambda);
        return (cosPhi * cosLambda, cosPhi * sinLambda, sinPhi);
    }
}
