using System.Runtime.InteropServices;
using SkiaSharp;
using StochasticInterpolants.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace StochasticInterpolants.Visualization;

/// <summary>
/// Decodes image files (PNG, JPEG, and whatever else SkiaSharp reads) into uint8 pixels [c, h, w]: c = 1 for a greyscale
/// file (a Gray8 file, or one whose every pixel has R = G = B), else c = 3 (R, G, B; alpha dropped, colours not
/// premultiplied).
/// </summary>
public static class ImageDecoding
{
    /// <summary>The most pixels (width x height) decoded: a file claiming more is refused before any pixel buffer is made.</summary>
    public const long MaxPixels = 1L << 24;

    /// <summary>Reads and decodes <paramref name="path"/>; an undecodable file throws a one-line <see cref="DataFormatException"/> naming it.</summary>
    public static Tensor Read(string path)
    {
        if (Directory.Exists(path)) throw new DataFormatException($"'{path}' is a folder, not an image file");
        if (!File.Exists(path)) throw new FileNotFoundException($"image file '{path}' does not exist");
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Decodes the encoded image <paramref name="bytes"/>; <paramref name="name"/> names the source in errors.</summary>
    public static Tensor Decode(byte[] bytes, string name)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new DataFormatException($"'{name}' is not an image SkiaSharp can decode (PNG or JPEG expected)");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (width < 1 || height < 1 || (long)width * height > MaxPixels)
            throw new DataFormatException($"'{name}': image size {width} x {height} is outside 1..{MaxPixels} pixels");
        var grey = codec.Info.ColorType == SKColorType.Gray8;
        var info = new SKImageInfo(width, height, grey ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[(long)info.RowBytes * height];
        var handle = GCHandle.Alloc(pixels, GCHandleType.Pinned);
        SKCodecResult result;
        try { result = codec.GetPixels(info, handle.AddrOfPinnedObject()); }
        finally { handle.Free(); }
        // IncompleteInput means a truncated file: Skia fills the missing rows, which would pass silently as data.
        if (result != SKCodecResult.Success)
            throw new DataFormatException($"'{name}' cannot be decoded ({result}): the file is truncated or corrupt");
        using var scope = NewDisposeScope();
        if (grey) return tensor(pixels, [1, height, width]).MoveToOuterDisposeScope();
        var rgb = tensor(pixels, [height, width, 4]).narrow(2, 0, 3).permute(2, 0, 1);
        var sameChannels = rgb[0].eq(rgb[1]).logical_and_(rgb[1].eq(rgb[2])).all().item<bool>();
        return (sameChannels ? rgb.narrow(0, 0, 1) : rgb).contiguous().MoveToOuterDisposeScope();
    }
}
